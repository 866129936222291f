# Reference fixtures for the statistics API (issue 10, item 3): weighted and stratified
# log-rank, Kaplan-Meier by group, Fine-Gray and cause-specific Cox with factor covariates,
# and an explicit censoring code (MASS::Melanoma, status 2 = alive).
#
# Run from tests/reference:   Rscript api_reference.R      (also run by `make reference`)
# Needs R with survival, cmprsk, MASS and jsonlite. Schemas: FIXTURES.md.
# Writes
#   api_survival_<name>.json    survdiff (rho 0, 0.5, 1; stratified where strata exist) and
#                               survfit(Surv(time, event) ~ group) in all four conf.types
#   api_regression_<name>.json  crr and cause-specific coxph (breslow and efron) with a 3-level
#                               factor (named reference) and factor + numeric; predict.crr
#   api_melanoma.json           cuminc with cencode = 2 and after recoding 2 -> 0, Gray's test
# The datasets are read from the committed ref_*.json / crr_*.json (their frozen data), or
# are built here, or come from MASS.

source("reference_helpers.R")
suppressPackageStartupMessages(library(MASS))

RHOS <- c(0, 0.5, 1)

# ------------------------------------------------------------------------------ survival
write_survival <- function(name, description, time, event, group, strata = NULL, source = NULL) {
  tests <- list()
  for (rho in RHOS) tests[[length(tests) + 1]] <- survdiff_entry(time, event, group, rho)
  if (!is.null(strata)) {
    for (rho in RHOS) tests[[length(tests) + 1]] <- survdiff_entry(time, event, group, rho, strata)
  }
  out <- list(
    name = name, description = description, source = source,
    versions = versions(),
    data = list(time = A(time), event = A(as.integer(event)), group = A(as.character(group)),
                strata = if (is.null(strata)) NULL else A(as.character(strata))),
    survdiff = tests,
    km_by = km_curves(time, event, group)
  )
  write_json_fixture(out, sprintf("api_survival_%s.json", name))
}

from_ref <- function(name) fromJSON(sprintf("ref_%s.json", name))$data

for (nm in c("hand8", "ties_between_causes", "tied_event_censoring", "heavy_censoring",
             "four_groups", "large_2000", "no_censoring")) {
  d <- from_ref(nm)
  write_survival(nm, sprintf("data of ref_%s.json; event = status > 0", nm),
                 d$time, as.integer(d$status > 0), d$group, source = sprintf("ref_%s.json", nm))
}

d <- from_ref("group_without_cause1")
write_survival("group_without_events",
               "data of ref_group_without_cause1.json; event = status == 1, so group c has no events",
               d$time, as.integer(d$status == 1), d$group, source = "ref_group_without_cause1.json")

d <- from_ref("strata")
write_survival("strata", "data of ref_strata.json; event = status > 0; 3 strata",
               d$time, as.integer(d$status > 0), d$group, strata = d$strata, source = "ref_strata.json")

# group z is censored before the first event: expected 0, it leaves df (survdiff's rule)
write_survival("zero_expected",
               "11 patients; group z all censored before the first event (expected = 0)",
               time = c(1, 1, 2, 3, 3, 5, 6, 7, 8, 9, 12),
               event = c(0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1),
               group = c("z", "z", "a", "b", "a", "b", "a", "a", "b", "b", "a"))

# stratified: stratum s2 holds only group a; in stratum s3 group b has no events; ties
write_survival("strata_edge",
               "20 patients, 3 strata; s2 has one group only, in s3 group b has no events",
               time = c(2, 3, 3, 5, 8, 8, 9, 12, 4, 4, 6, 10, 1, 2, 2, 5, 7, 7, 9, 11),
               event = c(1, 1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 1),
               group = c("a", "b", "a", "b", "a", "b", "a", "b", "a", "a", "a", "a",
                         "a", "b", "a", "b", "a", "b", "b", "a"),
               strata = c(rep("s1", 8), rep("s2", 4), rep("s3", 8)))

# stratified: nobody in stratum s2 has the event; weighted tests (rho > 0) must add nothing for it
write_survival("stratum_without_events",
               "11 patients, 2 strata; no events in s2 (3 patients, censored)",
               time = c(1, 2, 3, 4, 5, 6, 7, 8, 2, 4, 6),
               event = c(1, 1, 0, 1, 1, 0, 1, 0, 0, 0, 0),
               group = c("a", "b", "a", "b", "a", "b", "a", "b", "a", "b", "a"),
               strata = c(rep("s1", 8), rep("s2", 3)))

mel <- MASS::Melanoma
write_survival("melanoma",
               "MASS::Melanoma: death from melanoma (status 1) by ulcer (0 absent, 1 present), strata sex",
               mel$time, as.integer(mel$status == 1), ifelse(mel$ulcer == 1, "present", "absent"),
               strata = ifelse(mel$sex == 1, "male", "female"),
               source = "MASS::Melanoma (R package MASS, GPL-2 | GPL-3)")

# ------------------------------------------------------------------------------ regression
write_regression <- function(name, description, d, models, causes, cencode, profiles, times,
                             source = NULL, licence = NULL) {
  out <- list(
    name = name, description = description, source = source, licence = licence,
    versions = versions(if (!is.null(licence)) "MASS" else character(0)),
    cencode = cencode,
    data = lapply(d, A),
    models = lapply(models, function(m)
      regression_block(m$label, d, m$covariates, m$references, causes, cencode,
                       profiles[, m$covariates, drop = FALSE], times))
  )
  write_json_fixture(out, sprintf("api_regression_%s.json", name))
}

crr_data <- function(name) {
  x <- fromJSON(sprintf("crr_%s.json", name))$data
  as.data.frame(x, stringsAsFactors = FALSE)
}

d <- crr_data("heavy_censoring")[, c("time", "status", "group", "age")]
write_regression(
  "heavy_censoring", "data of crr_heavy_censoring.json (n = 200, 3 causes, ~68% censored)",
  d, list(list(label = "group", covariates = "group", references = list(group = "B")),
          list(label = "group_age", covariates = c("group", "age"), references = list(group = "B"))),
  causes = c(1, 2), cencode = 0,
  profiles = data.frame(group = c("A", "B", "C"), age = c(30, 40, 55)),
  times = c(6, 7, 21, 50, 126, 400), source = "crr_heavy_censoring.json")

d <- crr_data("large")[, c("time", "status", "group", "dose")]
write_regression(
  "large", "data of crr_large.json (n = 2000, 3 causes, times in steps of 30 days)",
  d, list(list(label = "group", covariates = "group", references = list(group = "C")),
          list(label = "group_dose", covariates = c("group", "dose"), references = list(group = "C"))),
  causes = c(1, 3), cencode = 0,
  profiles = data.frame(group = c("C", "A"), dose = c(2, 10)),
  times = c(29, 30, 180, 365, 730, 1095), source = "crr_large.json")

# Melanoma: status 1 melanoma death, 2 alive (censored), 3 other death; passed with cencode = 2
mel_d <- data.frame(time = mel$time, status = mel$status,
                    thickness_cat = cut(mel$thickness, c(0, 1, 4, Inf),
                                        labels = c("thin", "intermediate", "thick")),
                    age = mel$age)
mel_d$thickness_cat <- as.character(mel_d$thickness_cat)
write_regression(
  "melanoma",
  paste("MASS::Melanoma; status 1 = died of melanoma, 2 = alive (censoring code), 3 = died of other",
        "causes; thickness_cat = thickness (mm) in (0,1] thin, (1,4] intermediate, >4 thick;",
        "age in years"),
  mel_d, list(list(label = "thickness", covariates = "thickness_cat",
                   references = list(thickness_cat = "thin")),
              list(label = "thickness_age", covariates = c("thickness_cat", "age"),
                   references = list(thickness_cat = "thin"))),
  causes = c(1, 3), cencode = 2,
  profiles = data.frame(thickness_cat = c("thin", "intermediate", "thick"), age = c(50, 50, 70)),
  times = c(365, 1826, 3652), source = "MASS::Melanoma", licence = "GPL-2 | GPL-3 (R package MASS)")

# same fits after recoding 2 -> 0 must be identical (checked here, not written twice)
mel0 <- mel_d
mel0$status[mel0$status == 2] <- 0
dm <- design_matrix(mel_d, c("thickness_cat", "age"), list(thickness_cat = "thin"))
a <- crr(mel_d$time, mel_d$status, dm$X, failcode = 1, cencode = 2, gtol = 1e-12)
b <- crr(mel0$time, mel0$status, dm$X, failcode = 1, cencode = 0, gtol = 1e-12)
stopifnot(isTRUE(all.equal(a$coef, b$coef, tolerance = 1e-14)))

# ------------------------------------------------------------------------------ melanoma cuminc
times <- c(365, 1000, 1826, 3652, 5000)
status0 <- mel$status
status0[status0 == 2] <- 0
ulcer <- ifelse(mel$ulcer == 1, "present", "absent")
sex <- ifelse(mel$sex == 1, "male", "female")
raw <- cuminc_block(mel$time, mel$status, ulcer, cencode = 2, times = times, strata = sex)
recoded <- cuminc_block(mel$time, status0, ulcer, cencode = 0, times = times, strata = sex)
stopifnot(isTRUE(all.equal(raw[c("curves", "at", "tests")], recoded[c("curves", "at", "tests")])))
write_json_fixture(list(
  name = "melanoma",
  description = paste("MASS::Melanoma (205 patients, Odense 1962-77; time in days).",
                      "status 1 = died of melanoma, 2 = alive (censored), 3 = died of other causes.",
                      "group = ulcer (absent/present), strata = sex (female/male)."),
  source = "MASS::Melanoma; Andersen, Borgan, Gill and Keiding (1993) Statistical Models Based on Counting Processes",
  licence = "GPL-2 | GPL-3 (R package MASS)",
  versions = versions("MASS"),
  data = list(time = A(mel$time), status = A(mel$status), ulcer = A(ulcer), sex = A(sex),
              status_recoded = A(status0)),
  cencode_2 = raw,
  recoded_0 = recoded
), "api_melanoma.json")

# ------------------------------------------------------------------------------ coxph where full Newton steps stop short
# Four patients, two covariates: coxph (step halving) reaches a finite maximum in 7 iterations; lifelines'
# full Newton steps stopped short of it (log-likelihood -2.56 against -1.83). Writes api_cox_short_of_maximum.json:
# data, and coxph's coef, std_err, loglik (at the estimate) and iter.
short <- data.frame(time = c(1, 2, 1, 2), status = c(1, 2, 1, 1),
                    x1 = c(-0.054, 0.991, 1.287, -0.034), b = c(0, 1, 1, 0))
fit <- coxph(Surv(time, status == 1) ~ x1 + b, data = short, ties = "efron",
             control = coxph.control(eps = 1e-12, iter.max = 100))
write_json_fixture(list(
  description = "coxph(Surv(time, status == 1) ~ x1 + b, ties = 'efron', eps = 1e-12) on 4 patients",
  versions = versions(),
  data = lapply(short, A),
  coef = A(unname(coef(fit))), std_err = A(unname(sqrt(diag(vcov(fit))))),
  loglik = fit$loglik[2], iter = fit$iter
), "api_cox_short_of_maximum.json")
