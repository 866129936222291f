# Reference fixtures for Fine-Gray (cmprsk::crr) and cause-specific Cox (survival::coxph).
#
# Run from tests/reference:  Rscript crr_reference.R
# (make_reference.R sources this file at its end.) Writes crr_<name>.json, one per data set:
# the data themselves, and for each fitted cause the crr coefficients, sandwich SEs
# (sqrt(diag(fit$var))), Wald p-values, log-likelihoods, predict.crr curves for two
# covariate profiles, and the coxph(Surv(time, status == cause) ~ ., ties = "efron") fit.
# Needs R >= 4.2 with survival, cmprsk and jsonlite.

suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
  library(jsonlite)
})

# treatment-coded design with terms named "covariate[level]" (as hsct_analysis.design does)
design <- function(d, covariates) {
  cols <- list()
  for (v in covariates) {
    x <- d[[v]]
    if (is.factor(x)) {
      for (lev in levels(x)[-1]) cols[[sprintf("%s[%s]", v, lev)]] <- as.numeric(x == lev)
    } else {
      cols[[v]] <- as.numeric(x)
    }
  }
  as.matrix(as.data.frame(cols, check.names = FALSE))
}

fit_crr <- function(d, covariates, cause, profiles) {
  X <- design(d, covariates)
  fit <- crr(d$time, d$status, cov1 = X, failcode = cause, cencode = 0,
             gtol = 1e-10, maxiter = 200)
  se <- sqrt(diag(fit$var))
  Z <- design(profiles, covariates)
  pr <- predict(fit, cov1 = Z)
  list(
    terms = colnames(X), coef = unname(fit$coef), se = unname(se),
    p = unname(2 * pnorm(-abs(fit$coef / se))),
    loglik = fit$loglik, loglik_null = fit$loglik.null, converged = fit$converged,
    naive_se = unname(sqrt(diag(fit$invinf))),
    predict_time = unname(pr[, 1]), predict_cif = unname(pr[, -1, drop = FALSE])
  )
}

fit_coxph <- function(d, covariates, cause) {
  X <- design(d, covariates)
  fit <- coxph(Surv(d$time, d$status == cause) ~ X, ties = "efron",
               control = coxph.control(eps = 1e-12, iter.max = 100, toler.chol = 1e-15))
  se <- sqrt(diag(fit$var))
  list(terms = colnames(X), coef = unname(fit$coefficients), se = unname(se),
       p = unname(2 * pnorm(-abs(fit$coefficients / se))), loglik = fit$loglik[2])
}

write_fixture <- function(name, d, covariates, causes, profiles, coxph_causes = causes, extra = list()) {
  factors <- Filter(function(v) is.factor(d[[v]]), covariates)
  out <- list(
    name = name,
    covariates = covariates,
    levels = setNames(lapply(factors, function(v) levels(d[[v]])), factors),
    data = lapply(d, function(x) if (is.factor(x)) as.character(x) else x),
    profiles = lapply(profiles, function(x) if (is.factor(x)) as.character(x) else x),
    fits = lapply(causes, function(k) {
      f <- list(cause = k, crr = fit_crr(d, covariates, k, profiles))
      if (k %in% coxph_causes) f$coxph <- fit_coxph(d, covariates, k)
      f
    })
  )
  out <- c(out, extra)
  write(toJSON(out, digits = NA, auto_unbox = TRUE, matrix = "columnmajor"),
        sprintf("crr_%s.json", name))
  cat("wrote", sprintf("crr_%s.json", name), "\n")
}

# Competing-risks data: latent exponential times for `ncause` causes, exponential censoring.
simulate <- function(n, ncause, cens_rate, round_to, beta) {
  d <- data.frame(
    group = factor(sample(c("A", "B", "C"), n, replace = TRUE, prob = c(.4, .35, .25))),
    male = rbinom(n, 1, 0.55),
    age = round(rnorm(n, 40, 12), 1),
    dose = round(rexp(n, 1 / 5), 2)
  )
  lp <- beta[1] * (d$group == "B") + beta[2] * (d$group == "C") + beta[3] * d$male +
    beta[4] * (d$age - 40) / 10
  latent <- sapply(seq_len(ncause), function(k) rexp(n, rate = 0.002 * k^0.5 * exp(lp * (k == 1))))
  cens <- rexp(n, cens_rate)
  t <- pmin(apply(latent, 1, min), cens)
  d$status <- ifelse(cens <= apply(latent, 1, min), 0L, apply(latent, 1, which.min))
  d$time <- pmax(1, ceiling(t / round_to) * round_to)
  d
}

set.seed(20230615)
profiles <- data.frame(group = factor(c("A", "C"), levels = c("A", "B", "C")),
                       male = c(0, 1), age = c(35, 55), dose = c(4, 8))

# n = 30, two causes, binary + continuous covariates, whole-day ties
d <- simulate(30, 2, 0.001, 30, c(0, 0, 0.8, 0.3))
write_fixture("small", d, c("male", "age"), c(1, 2), profiles)

# n = 200, three causes, heavy censoring (about 60%), 3-level factor + binary + continuous
d <- simulate(200, 3, 0.02, 7, c(0.5, -0.6, 0.4, 0.2))
write_fixture("heavy_censoring", d, c("group", "male", "age"), c(1, 2, 3), profiles)

# n = 2000, three causes, coarse times (many ties), factor + two continuous covariates
d <- simulate(2000, 3, 0.0015, 30, c(0.4, -0.3, 0.3, 0.25))
write_fixture("large", d, c("group", "age", "dose"), c(1, 3), profiles)

# n = 120, separation: group C has no events of cause 1 (its cause-1 events become cause 2)
d <- simulate(120, 2, 0.002, 1, c(0.3, 0, 0.5, 0))
d$status[d$group == "C" & d$status == 1] <- 2L
# coxph diverges here; its limit is the fit without group C (whose patients leave every risk set)
limit <- fit_coxph(droplevels(d[d$group != "C", ]), c("group", "male"), 1)
write_fixture("separation", d, c("group", "male"), c(1), profiles, coxph_causes = integer(0),
              extra = list(coxph_limit = limit))
