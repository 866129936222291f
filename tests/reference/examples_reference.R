# Example cohorts (issue 11, item 5): real, public transplant data from the R package KMsurv
# (Klein & Moeschberger, Survival Analysis: Techniques for Censored and Truncated Data;
# KMsurv is GPL (>= 3)), exported as CSV under data/examples/<name>/, and R's reference
# results on them as tests/reference/ex_<name>.json.
#
# Run from tests/reference:   Rscript examples_reference.R    (also run by `make reference`)
# Needs R with survival, cmprsk, KMsurv and jsonlite. Schemas: FIXTURES.md.
# The CSVs are written first and the fixtures are computed from the CSVs as read back, so the
# fixtures describe exactly the committed files.

source("reference_helpers.R")
suppressPackageStartupMessages(library(KMsurv))

EXAMPLES <- file.path("..", "..", "data", "examples")
KMSURV <- list(package = "KMsurv", version = as.character(packageVersion("KMsurv")),
               licence = "GPL (>= 3)")

export_csv <- function(name, d) {
  dir.create(file.path(EXAMPLES, name), recursive = TRUE, showWarnings = FALSE)
  path <- file.path(EXAMPLES, name, paste0(name, ".csv"))
  write.csv(d, path, row.names = FALSE, quote = FALSE)
  back <- read.csv(path)
  stopifnot(identical(dim(back), dim(d)), isTRUE(all.equal(back, d, check.attributes = FALSE)))
  cat("wrote", path, "\n")
  list(file = sprintf("data/examples/%s/%s.csv", name, name), rows = nrow(back),
       columns = A(names(back)), md5 = unname(tools::md5sum(path)), kmsurv = KMSURV,
       back = back)
}

dataset_meta <- function(x) x[setdiff(names(x), "back")]

# KM of one endpoint: full curves (overall + by group) and values at fixed times
km_endpoint <- function(time, event, group, times) {
  list(curves = c(km_curves(time, event), km_curves(time, event, group)),
       at = c(km_at(time, event, times), km_at(time, event, times, group)))
}

# Aalen-Johansen (survfit multi-state, conf.type "log") at fixed times, overall and by group
aj_at <- function(time, status, causes, times, group = NULL) {
  labels <- c(list(NULL), if (is.null(group)) list() else as.list(sort(unique(group))))
  out <- list()
  for (lab in labels) {
    keep <- if (is.null(lab)) rep(TRUE, length(time)) else group == lab
    f <- survfit(Surv(time[keep], factor(status[keep], levels = c(0, causes))) ~ 1,
                 conf.type = "log")
    s <- summary(f, times = times, extend = TRUE)
    stopifnot(is.matrix(s$pstate), identical(s$states, c("(s0)", as.character(causes))))
    for (j in seq_along(causes)) {
      out[[length(out) + 1]] <- list(group = lab, cause = causes[j], time = A(times),
                                     pstate = A(s$pstate[, j + 1]), std_err = A(s$std.err[, j + 1]),
                                     lower = A(s$lower[, j + 1]), upper = A(s$upper[, j + 1]))
    }
  }
  out
}

# ================================================================================ bmt
data(bmt, package = "KMsurv")
bmt_meta <- export_csv("bmt", cbind(id = seq_len(nrow(bmt)), bmt))
b <- bmt_meta$back
GROUPS <- c("1" = "ALL", "2" = "AML low risk", "3" = "AML high risk")
group <- unname(GROUPS[as.character(b$group)])
times <- c(365, 730, 1095)

# relapse vs death in remission, at t2 (DFS time): relapse = d2; death in remission = d3 & !d2
rn_status <- ifelse(b$d2 == 1, 1L, ifelse(b$d3 == 1, 2L, 0L))
# acute GVHD vs death without acute GVHD, at ta (ta = t1 for patients without aGVHD)
ag_status <- ifelse(b$da == 1, 1L, ifelse(b$d1 == 1, 2L, 0L))
stopifnot(all(b$ta[b$da == 0] == b$t1[b$da == 0]))

rn <- data.frame(time = b$t2, status = rn_status, group = group, age = b$z1)
bmt_out <- list(
  name = "bmt",
  description = paste("KMsurv::bmt, 137 allogeneic BMT recipients (Klein & Moeschberger, section 1.3);",
                      "times in days; group 1 ALL, 2 AML low risk, 3 AML high risk"),
  dataset = dataset_meta(bmt_meta),
  versions = versions("KMsurv"),
  group_labels = as.list(GROUPS),
  times = A(times),
  endpoints = list(
    os = "time t1, event d1 (death)",
    dfs = "time t2, event d3 (relapse or death)",
    relapse_nrm = "time t2, status 1 = relapse (d2 == 1), 2 = death in remission (d2 == 0 & d3 == 1), 0 = censored",
    agvhd = "time ta, status 1 = acute GVHD (da == 1), 2 = death without acute GVHD (da == 0 & d1 == 1), 0 = censored"),
  km = list(os = km_endpoint(b$t1, b$d1, group, times),
            dfs = km_endpoint(b$t2, b$d3, group, times)),
  survdiff = list(os = lapply(c(0, 1), function(r) survdiff_entry(b$t1, b$d1, group, r)),
                  dfs = lapply(c(0, 1), function(r) survdiff_entry(b$t2, b$d3, group, r))),
  cuminc = list(relapse_nrm = cuminc_block(b$t2, rn_status, group, times = times),
                agvhd = cuminc_block(b$ta, ag_status, group, times = times)),
  aalen_johansen = list(relapse_nrm = aj_at(b$t2, rn_status, 1:2, times, group),
                        agvhd = aj_at(b$ta, ag_status, 1:2, times, group)),
  regression = list(
    relapse_nrm = lapply(list(
      list(label = "group", covariates = "group"),
      list(label = "group_age", covariates = c("group", "age"))), function(m)
        regression_block(m$label, rn, m$covariates, list(group = "ALL"), causes = c(1, 2),
                         cencode = 0,
                         profiles = data.frame(group = unname(GROUPS), age = c(28, 28, 28))[, m$covariates, drop = FALSE],
                         times = times)))
)
write_json_fixture(bmt_out, "ex_bmt.json")

# ================================================================================ hodg
data(hodg, package = "KMsurv")
hodg_meta <- export_csv("hodg", cbind(id = seq_len(nrow(hodg)), hodg))
h <- hodg_meta$back
graft <- ifelse(h$gtype == 1, "allo", "auto")
disease <- ifelse(h$dtype == 1, "NHL", "HD")
hd <- data.frame(time = h$time, status = h$delta, graft = graft, disease = disease, score = h$score)
dm <- design_matrix(hd, c("graft", "disease", "score"), list(graft = "allo", disease = "NHL"))
hodg_out <- list(
  name = "hodg",
  description = paste("KMsurv::hodg, 43 lymphoma patients, allogeneic vs autologous transplant",
                      "(Klein & Moeschberger, section 1.10; Avalos et al. 1993); time in days to death",
                      "or relapse; delta 1 = dead or relapsed"),
  dataset = dataset_meta(hodg_meta),
  versions = versions("KMsurv"),
  group_labels = list(graft = list("1" = "allo", "2" = "auto"), disease = list("1" = "NHL", "2" = "HD")),
  times = A(times),
  km = list(graft = km_endpoint(h$time, h$delta, graft, times),
            disease = km_endpoint(h$time, h$delta, disease, times)),
  survdiff = list(
    graft = lapply(c(0, 1), function(r) survdiff_entry(h$time, h$delta, graft, r)),
    disease = lapply(c(0, 1), function(r) survdiff_entry(h$time, h$delta, disease, r)),
    graft_within_disease = lapply(c(0, 1), function(r) survdiff_entry(h$time, h$delta, graft, r, disease))),
  coxph = list(
    covariates = A(c("graft", "disease", "score")),
    references = list(graft = "allo", disease = "NHL"),
    breslow = fit_cs_cox(hd$time, hd$status, dm, 1, "breslow"),
    efron = fit_cs_cox(hd$time, hd$status, dm, 1, "efron"))
)
write_json_fixture(hodg_out, "ex_hodg.json")

# ================================================================================ alloauto
data(alloauto, package = "KMsurv")
aa_meta <- export_csv("alloauto", cbind(id = seq_len(nrow(alloauto)), alloauto))
a <- aa_meta$back
type <- ifelse(a$type == 1, "allo", "auto")
mtimes <- c(12, 24, 36)
aa_out <- list(
  name = "alloauto",
  description = paste("KMsurv::alloauto, leukemia-free survival after allogeneic or autologous",
                      "transplant (Klein & Moeschberger, section 1.9; Kardaun 1983); TIME IN MONTHS;",
                      "delta 1 = dead or relapsed"),
  dataset = dataset_meta(aa_meta),
  versions = versions("KMsurv"),
  group_labels = list(type = list("1" = "allo", "2" = "auto")),
  times = A(mtimes),
  time_unit = "months",
  km = list(type = km_endpoint(a$time, a$delta, type, mtimes)),
  survdiff = list(type = lapply(c(0, 1), function(r) survdiff_entry(a$time, a$delta, type, r)))
)
write_json_fixture(aa_out, "ex_alloauto.json")

# ================================================================================ study reports
# What hsct_analysis.book.study_report computes from data/examples/{bmt,hodg}/study.yml, computed here
# from the same CSVs with the same codings (tests/test_study_report.py): per endpoint the estimates at
# the study's time points (conf.type log) and the event counts; per factor and level n, events and
# estimates, and the factor's p (survdiff for survival endpoints, cuminc's Gray test for competing
# ones); the multivariable screening (p <= screening_p, plus the forced factors) and the models:
# coxph (Efron ties) for survival endpoints, crr and cause-specific coxph for competing ones; the
# median follow-up by reverse Kaplan-Meier.

# estimates of one endpoint on the rows `keep` at `times`: KM (log CI) or cuminc with log CI from
# cmprsk's variance (exp(log F -+ z sqrt(var) / F), the transform the study files ask for)
report_at <- function(ep, keep, times) {
  t <- ep$time[keep]; s <- ep$status[keep]
  if (ep$kind == "km") {
    sm <- summary(survfit(Surv(t, s == 1) ~ 1, conf.type = "log"), times = times, extend = TRUE)
    return(list(estimate = A(sm$surv), std_err = A(sm$std.err), lower = A(sm$lower), upper = A(sm$upper)))
  }
  fit <- cuminc(t, s, cencode = 0)
  tp <- timepoints(fit, times)
  key <- paste("1", ep$cause)
  est <- tp$est[key, ]; v <- tp$var[key, ]
  se <- sqrt(v)
  list(estimate = A(est), std_err = A(se),
       lower = A(ifelse(est > 0, exp(log(est) - Z975 * se / est), NA)),
       upper = A(ifelse(est > 0, pmin(1, exp(log(est) + Z975 * se / est)), NA)))
}

report_p <- function(ep, group) {
  if (ep$kind == "km") return(survdiff(Surv(ep$time, ep$status == 1) ~ group)$pvalue)
  tt <- cuminc(ep$time, ep$status, group, cencode = 0)$Tests
  unname(tt[as.character(ep$cause), "pv"])
}

report_model <- function(ep, factors, chosen, model) {
  d <- data.frame(time = ep$time, status = ep$status)
  refs <- list()
  for (f in chosen) { d[[f]] <- factors[[f]]$values; refs[[f]] <- factors[[f]]$ref }
  dm <- design_matrix(d, chosen, refs)
  fit <- if (model == "fine_gray") fit_crr(d$time, d$status, dm, ep$cause, 0, NULL, chosen, refs, NULL)
         else fit_cs_cox(d$time, d$status, dm, ep$cause, "efron")
  fit[c("terms", "coef", "se", "hr", "hr_lower", "hr_upper", "p")]
}

report_block <- function(endpoints, factor_endpoints, factors, times, screening_p, forced, cif_models,
                         followup) {
  fu <- summary(survfit(Surv(followup$time, 1 - followup$event) ~ 1, conf.type = "log"))$table
  out <- list(times = A(times),
              followup = list(median = unname(fu["median"]), lower = unname(fu["0.95LCL"]),
                              upper = unname(fu["0.95UCL"])),
              endpoints = list(), univariate = list(), multivariable = list())
  for (name in names(endpoints)) {
    ep <- endpoints[[name]]
    all <- rep(TRUE, length(ep$time))
    out$endpoints[[name]] <- c(list(patients = length(ep$time), events = sum(ep$status == ep$cause),
                                    censored = sum(ep$status == 0)), report_at(ep, all, times))
  }
  for (name in factor_endpoints) {
    ep <- endpoints[[name]]
    rows <- list(); ps <- list()
    for (f in names(factors)) {
      g <- factors[[f]]$values
      ps[[f]] <- report_p(ep, g)
      for (lev in factors[[f]]$levels) {
        keep <- g == lev
        rows[[length(rows) + 1]] <- c(list(factor = f, level = lev, n = sum(keep),
                                           events = sum(ep$status[keep] == ep$cause)),
                                      report_at(ep, keep, times))
      }
    }
    out$univariate[[name]] <- list(p = ps, levels = rows)
    chosen <- names(factors)[vapply(names(factors), function(f) ps[[f]] <= screening_p || f %in% forced, TRUE)]
    models <- if (ep$kind == "km") "cox" else cif_models
    out$multivariable[[name]] <- list(
      entered = A(chosen),
      models = setNames(lapply(models, function(m) report_model(ep, factors, chosen, m)), models))
  }
  out
}

bmt_factor <- function(values, levels, ref) list(values = values, levels = levels, ref = ref)
bmt_report <- report_block(
  endpoints = list(
    os = list(kind = "km", time = b$t1, status = b$d1, cause = 1),
    lfs = list(kind = "km", time = b$t2, status = b$d3, cause = 1),
    relapse = list(kind = "cif", time = b$t2, status = rn_status, cause = 1),
    nrm = list(kind = "cif", time = b$t2, status = rn_status, cause = 2),
    cgvhd = list(kind = "cif", time = b$tc, status = ifelse(b$dc == 1, 1L, ifelse(b$d1 == 1, 2L, 0L)), cause = 1),
    platelet_engraftment = list(kind = "cif", time = b$tp,
                                status = ifelse(b$dp == 1, 1L, ifelse(b$d1 == 1, 2L, 0L)), cause = 1),
    agvhd = list(kind = "cif", time = b$ta, status = ag_status, cause = 1)),
  factor_endpoints = c("os", "lfs", "relapse", "nrm", "agvhd"),
  factors = list(
    disease = bmt_factor(group, c("ALL", "AML low risk", "AML high risk"), "ALL"),
    age = bmt_factor(ifelse(b$z1 <= 28, "<=28", ">28"), c("<=28", ">28"), "<=28"),
    fab = bmt_factor(ifelse(b$z8 == 1, "yes", "no"), c("no", "yes"), "no"),
    mtx = bmt_factor(ifelse(b$z10 == 1, "yes", "no"), c("no", "yes"), "no"),
    patient_cmv = bmt_factor(ifelse(b$z5 == 1, "positive", "negative"), c("negative", "positive"), "negative")),
  times = times, screening_p = 0.1, forced = "disease", cif_models = c("fine_gray", "cause_specific"),
  followup = list(time = b$t1, event = b$d1))
write_json_fixture(c(list(study = "data/examples/bmt/study.yml"), bmt_report), "ex_bmt_report.json")

hodg_report <- report_block(
  endpoints = list(dfs_lymphoma = list(kind = "km", time = h$time, status = h$delta, cause = 1)),
  factor_endpoints = "dfs_lymphoma",
  factors = list(
    graft = bmt_factor(graft, c("allo", "auto"), "allo"),
    disease = bmt_factor(disease, c("NHL", "HD"), "NHL"),
    karnofsky = bmt_factor(ifelse(h$score <= 70, "<=70", ">70"), c(">70", "<=70"), ">70")),
  times = times, screening_p = 0.1, forced = c("graft", "disease"), cif_models = character(0),
  followup = list(time = h$time, event = h$delta))
write_json_fixture(c(list(study = "data/examples/hodg/study.yml"), hodg_report), "ex_hodg_report.json")
