# Helpers shared by api_reference.R and examples_reference.R (sourced, never run alone).
# Conventions of every fixture they write (see FIXTURES.md):
#   - numbers with 15 significant digits; R's NA/NaN/Inf as null;
#   - matrices as lists of rows (row-major, jsonlite's default);
#   - group labels as character, levels sorted in the C locale (as Python's sorted()).

suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
  library(jsonlite)
})
invisible(Sys.setlocale("LC_COLLATE", "C"))

CONF_TYPES <- c("plain", "log", "log-log", "arcsin")

# A(x): always a JSON array, even of length 1 (auto_unbox would turn it into a scalar)
A <- function(x) I(unname(if (is.factor(x)) as.character(x) else x))
Z975 <- qnorm(0.975)

write_json_fixture <- function(x, file) {
  writeLines(toJSON(x, digits = NA, auto_unbox = TRUE, na = "null", null = "null",
                    matrix = "rowmajor"), file)
  cat("wrote", file, "\n")
}

versions <- function(extra = character(0)) {
  pk <- c("survival", "cmprsk", extra)
  c(list(R = R.version.string),
    setNames(lapply(pk, function(p) as.character(packageVersion(p))), pk))
}

# ------------------------------------------------------------------------------ survdiff
# One survdiff call. Group order = sorted distinct labels. observed/expected are summed over
# strata (what print.survdiff shows); the per-stratum matrices (groups x strata) are kept too.
# df = number of groups with expected > 0, minus 1 (print.survdiff's rule); p = R's pvalue.
survdiff_entry <- function(time, event, group, rho = 0, strata = NULL) {
  g <- factor(as.character(group), levels = sort(unique(as.character(group))))
  if (is.null(strata)) {
    sd <- survdiff(Surv(time, event) ~ g, rho = rho)
  } else {
    s <- factor(as.character(strata), levels = sort(unique(as.character(strata))))
    sd <- survdiff(Surv(time, event) ~ g + strata(s), rho = rho)
  }
  obs <- sd$obs
  ex <- sd$exp
  by_stratum <- is.matrix(obs)
  o <- if (by_stratum) rowSums(obs) else as.numeric(obs)
  e <- if (by_stratum) rowSums(ex) else as.numeric(ex)
  df <- sum(e > 0) - 1
  out <- list(rho = rho, stratified = !is.null(strata), groups = A(levels(g)),
              n = A(as.integer(sd$n)), chisq = sd$chisq, df = df, p = sd$pvalue,
              p_check = if (df > 0) pchisq(sd$chisq, df, lower.tail = FALSE) else NA,
              observed = A(o), expected = A(e),
              variance = unname(sd$var))
  if (by_stratum) {
    out$strata <- A(levels(s))
    out$observed_by_stratum <- unname(obs)
    out$expected_by_stratum <- unname(ex)
  }
  out
}

# ------------------------------------------------------------------------------ Kaplan-Meier
# survfit(Surv(time, event) ~ g) for the four conf.types; one entry per group (or one overall
# entry with group = null when group is NULL). std_err = SE of S (= surv * survfit's std.err).
km_curves <- function(time, event, group = NULL, conf_level = 0.95) {
  fits <- lapply(CONF_TYPES, function(ct) {
    if (is.null(group)) survfit(Surv(time, event) ~ 1, conf.type = ct, conf.int = conf_level)
    else {
      g <- factor(as.character(group), levels = sort(unique(as.character(group))))
      survfit(Surv(time, event) ~ g, conf.type = ct, conf.int = conf_level)
    }
  })
  names(fits) <- CONF_TYPES
  labels <- if (is.null(group)) list(NULL) else as.list(sort(unique(as.character(group))))
  lapply(seq_along(labels), function(i) {
    pick <- function(f) if (is.null(group)) f else f[i]
    f0 <- pick(fits[[1]])
    cur <- list(group = labels[[i]], n = f0$n, time = A(f0$time), n_risk = A(f0$n.risk),
                n_event = A(f0$n.event), n_censor = A(f0$n.censor), surv = A(f0$surv),
                std_err = A(f0$surv * f0$std.err))
    med <- list()
    for (ct in CONF_TYPES) {
      f <- pick(fits[[ct]])
      cur[[paste0("lower_", ct)]] <- A(f$lower)
      cur[[paste0("upper_", ct)]] <- A(f$upper)
      tab <- summary(f)$table
      med[[ct]] <- list(median = unname(tab["median"]),
                        lower = unname(tab[paste0(conf_level, "LCL")]),
                        upper = unname(tab[paste0(conf_level, "UCL")]))
    }
    cur$median <- med
    cur
  })
}

# KM values at fixed times (summary.survfit(times = , extend = TRUE)), all four conf.types
km_at <- function(time, event, times, group = NULL) {
  labels <- if (is.null(group)) list(NULL) else as.list(sort(unique(as.character(group))))
  lapply(labels, function(lab) {
    keep <- if (is.null(lab)) rep(TRUE, length(time)) else as.character(group) == lab
    out <- list(group = lab, time = A(times))
    for (ct in CONF_TYPES) {
      f <- survfit(Surv(time[keep], event[keep]) ~ 1, conf.type = ct)
      s <- summary(f, times = times, extend = TRUE)
      if (ct == CONF_TYPES[1]) {
        out$n_risk <- A(s$n.risk)
        out$surv <- A(s$surv)
        out$std_err <- A(s$std.err)  # summary.survfit's std.err is already the SE of S
      }
      out[[paste0("lower_", ct)]] <- A(s$lower)
      out[[paste0("upper_", ct)]] <- A(s$upper)
    }
    out
  })
}

# ------------------------------------------------------------------------------ cuminc
# cuminc curve on the right-continuous grid: keep the last entry of each time
cif_curve <- function(part) {
  keep <- !duplicated(part$time, fromLast = TRUE)
  list(time = A(part$time[keep]), est = A(part$est[keep]), var = A(part$var[keep]))
}

# est/var of every cause (overall and per group) at all event times, timepoints() at `times`,
# and Gray's test (rho 0 and 1) when there are groups.
cuminc_block <- function(time, status, group = NULL, cencode = 0, times = NULL, strata = NULL) {
  causes <- sort(unique(status[status != cencode]))
  one <- function(g_lab, fit, prefix) {
    lapply(causes, function(k) {
      part <- fit[[paste(prefix, k)]]
      c(list(group = g_lab, cause = k), cif_curve(part))
    })
  }
  overall <- cuminc(time, status, cencode = cencode)
  curves <- one(NULL, overall, "1")
  at <- list()
  if (!is.null(times)) {
    tp <- timepoints(overall, times)
    for (k in causes) {
      key <- paste("1", k)
      at[[length(at) + 1]] <- list(group = NULL, cause = k, time = A(times),
                                   est = A(tp$est[key, ]), var = A(tp$var[key, ]))
    }
  }
  tests <- list()
  if (!is.null(group)) {
    g <- as.character(group)
    byg <- cuminc(time, status, g, cencode = cencode)
    for (lab in sort(unique(g))) curves <- c(curves, one(lab, byg, lab))
    if (!is.null(times)) {
      tp <- timepoints(byg, times)
      for (lab in sort(unique(g))) for (k in causes) {
        key <- paste(lab, k)
        at[[length(at) + 1]] <- list(group = lab, cause = k, time = A(times),
                                     est = A(tp$est[key, ]), var = A(tp$var[key, ]))
      }
    }
    for (stratified in if (is.null(strata)) FALSE else c(FALSE, TRUE)) for (rho in c(0, 1)) {
      tt <- if (!stratified) cuminc(time, status, g, cencode = cencode, rho = rho)$Tests
            else cuminc(time, status, g, strata = strata, cencode = cencode, rho = rho)$Tests
      for (i in seq_len(nrow(tt))) {
        tests[[length(tests) + 1]] <- list(cause = as.integer(rownames(tt)[i]), rho = rho,
                                           stratified = stratified, stat = tt[i, "stat"],
                                           p = tt[i, "pv"], df = tt[i, "df"])
      }
    }
  }
  list(cencode = cencode, causes = A(causes), curves = curves, at = at, tests = tests)
}

# ------------------------------------------------------------------------------ regression
# Treatment-coded design from model.matrix; factor reference levels set explicitly.
# Returns the matrix without the intercept; term names both as R names ("groupB") and as
# "covariate[level]".
design_matrix <- function(d, covariates, references) {
  for (v in names(references)) {
    d[[v]] <- relevel(factor(as.character(d[[v]]),
                             levels = sort(unique(as.character(d[[v]])))), ref = references[[v]])
  }
  fml <- as.formula(paste("~", paste(covariates, collapse = " + ")))
  mm <- model.matrix(fml, data = d, contrasts.arg = lapply(references, function(r) "contr.treatment"))
  X <- mm[, -1, drop = FALSE]
  assign <- attr(mm, "assign")[-1]
  bracket <- vapply(seq_len(ncol(X)), function(j) {
    v <- covariates[assign[j]]
    if (v %in% names(references)) sprintf("%s[%s]", v, substring(colnames(X)[j], nchar(v) + 1))
    else v
  }, "")
  list(X = X, r_names = colnames(X), terms = bracket, data = d)
}

wald_table <- function(coef, se) {
  list(coef = A(coef), se = A(se), hr = A(exp(coef)),
       hr_lower = A(exp(coef - Z975 * se)), hr_upper = A(exp(coef + Z975 * se)),
       z = A(coef / se), p = A(2 * pnorm(-abs(coef / se))))
}

# crr + predict at `times` for covariate `profiles` (a data.frame of covariate values)
fit_crr <- function(time, status, dm, cause, cencode, profiles, covariates, references,
                    times, gtol = 1e-12) {
  fit <- crr(time, status, cov1 = dm$X, failcode = cause, cencode = cencode,
             gtol = gtol, maxiter = 200)
  se <- sqrt(diag(fit$var))
  out <- c(list(terms = A(dm$terms), r_names = A(dm$r_names)), wald_table(fit$coef, se),
           list(naive_se = A(sqrt(diag(fit$invinf))), loglik = fit$loglik,
                loglik_null = fit$loglik.null, converged = fit$converged,
                gtol = gtol, n = fit$n, n_missing = fit$n.missing,
                n_events = sum(status == cause)))
  if (!fit$converged) {
    # crr stops at maxiter when the scaled score cannot get below gtol in floating point; the
    # coefficients are then at the precision floor. Record a fit with a 10x looser gtol as evidence.
    loose <- crr(time, status, cov1 = dm$X, failcode = cause, cencode = cencode,
                 gtol = 10 * gtol, maxiter = 200)
    out$not_converged_check <- list(gtol = 10 * gtol, converged = loose$converged,
                                    coef = A(loose$coef),
                                    max_rel_diff = max(abs(loose$coef - fit$coef) / abs(fit$coef)))
  }
  if (!is.null(profiles)) {
    # design rows of the profiles: bind them to the data so the factor coding is identical
    pd <- profiles
    for (v in names(references)) pd[[v]] <- factor(as.character(pd[[v]]), levels = levels(dm$data[[v]]))
    fml <- as.formula(paste("~", paste(covariates, collapse = " + ")))
    Z <- model.matrix(fml, data = pd)[, -1, drop = FALSE]
    stopifnot(identical(colnames(Z), dm$r_names))
    pr <- predict(fit, cov1 = Z)
    step_at <- function(col) vapply(times, function(t) {
      i <- which(pr[, 1] <= t)
      if (length(i) == 0) 0 else col[max(i)]
    }, 0)
    out$predict <- list(
      profiles = lapply(profiles, A),
      design = unname(Z),
      time = A(pr[, 1]),
      cif = unname(t(pr[, -1, drop = FALSE])),  # one row per profile
      at_time = A(times),
      cif_at = do.call(rbind, lapply(seq_len(nrow(Z)), function(j) step_at(pr[, j + 1]))))
  }
  out
}

# cause-specific Cox: coxph(Surv(time, status == cause) ~ X) with the given ties method
fit_cs_cox <- function(time, status, dm, cause, ties) {
  ev <- as.integer(status == cause)
  X <- dm$X
  fit <- coxph(Surv(time, ev) ~ X, ties = ties,
               control = coxph.control(eps = 1e-12, iter.max = 100, toler.chol = 1e-15))
  se <- sqrt(diag(fit$var))
  c(list(ties = ties, terms = A(dm$terms), r_names = A(dm$r_names)), wald_table(fit$coefficients, se),
    list(loglik = fit$loglik[2], loglik_null = fit$loglik[1], n = fit$n, n_events = fit$nevent,
         iterations = fit$iter,
         lr_test = unname(2 * (fit$loglik[2] - fit$loglik[1])),
         wald_test = unname(fit$wald.test), score_test = unname(fit$score)))
}

# Both regressions for one model: crr per cause, cause-specific coxph (breslow, efron) per cause
regression_block <- function(label, d, covariates, references, causes, cencode, profiles, times) {
  dm <- design_matrix(d, covariates, references)
  list(
    model = label, covariates = A(covariates),
    references = references,
    levels = setNames(lapply(names(references), function(v) A(levels(dm$data[[v]]))), names(references)),
    fits = lapply(causes, function(k) list(
      cause = k,
      crr = fit_crr(d$time, d$status, dm, k, cencode, profiles, covariates, references, times),
      coxph_breslow = fit_cs_cox(d$time, d$status, dm, k, "breslow"),
      coxph_efron = fit_cs_cox(d$time, d$status, dm, k, "efron")
    ))
  )
}
