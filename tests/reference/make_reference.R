# Reference results from R for tests/test_survival.py and tests/test_competing.py.
#
# Run from this folder:   cd tests/reference && Rscript make_reference.R
# Needs: survival (3.5-3), cmprsk (2.2-11), jsonlite.
#
# For every dataset below it writes ref_<name>.json holding the data and R's answers:
#   km        survfit(Surv(time, status > 0) ~ 1) for conf.type arcsin, log, log-log, plain
#             (time, n.risk, n.event, n.censor, surv, std_err = SE of S = surv * std.err,
#              and lower/upper per conf.type)
#   survdiff  log-rank by group (chisq, df, p, observed, expected)
#   cuminc    cmprsk::cuminc est/var for every cause, overall and per group, on the
#             right-continuous grid (the value after each jump)
#   tests     cuminc(...)$Tests with rho = 0 and rho = 1 (and with strata when present)
#   followup  reverse-KM median: summary(survfit(Surv(time, 1 - event) ~ 1))$table
# Statuses: 0 = censored, 1..k = causes. NA/NaN/Inf are written as null.
#
# Then, for every ref_<name>.json, ms_<name>.json: the multi-state (Aalen-Johansen) curve of
# survfit(Surv(time, factor(status, levels = 0:K)) ~ 1, conf.type = "log") on the data stored
# in ref_<name>.json (so the bundled cohort is the one frozen there, not the current CSV),
# overall and per group: for every cause its pstate, std.err (the SE of the probability in
# the state, infinitesimal jackknife), lower and upper, on survfit's grid of distinct times.
# Only this part:   cd tests/reference && Rscript make_reference.R multistate

suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
  library(jsonlite)
})

# survfit's multi-state curve of every cause; factor levels 0:K so that 0 is censoring
# even when nobody is censored (the first level is always taken as censoring)
multistate_curves <- function(time, status, causes, group = NULL) {
  f <- survfit(Surv(time, factor(status, levels = c(0, causes))) ~ 1, conf.type = "log")
  stopifnot(identical(f$states, c("(s0)", as.character(causes))))
  lapply(seq_along(causes), function(j) {
    list(group = group, cause = causes[j], time = f$time, n_risk = f$n.risk[, 1],
         pstate = f$pstate[, j + 1], std_err = f$std.err[, j + 1],
         lower = f$lower[, j + 1], upper = f$upper[, j + 1])
  })
}

write_multistate <- function(ref_file) {
  ref <- fromJSON(ref_file)
  d <- ref$data
  causes <- sort(unique(d$status[d$status > 0]))
  if (length(causes) == 0) return(invisible())
  curves <- multistate_curves(d$time, d$status, causes)
  for (g in sort(unique(d$group))) {
    keep <- d$group == g
    curves <- c(curves, multistate_curves(d$time[keep], d$status[keep], causes, g))
  }
  name <- sub("^ref_", "", sub("[.]json$", "", basename(ref_file)))
  out <- list(name = name, description = ref$description,
              data = list(time = d$time, status = d$status, group = d$group),
              conf_type = "log", survival_version = as.character(packageVersion("survival")),
              curves = curves)
  writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, na = "null", null = "null"),
             paste0("ms_", name, ".json"))
  cat(sprintf("ms_%-22s curves=%d\n", name, length(curves)))
}

write_multistate_all <- function() {
  for (f in sort(Sys.glob("ref_*.json"))) write_multistate(f)
}

if ("multistate" %in% commandArgs(trailingOnly = TRUE)) {
  write_multistate_all()
  quit(save = "no")
}

km_block <- function(time, event) {
  out <- NULL
  for (ct in c("arcsin", "log", "log-log", "plain")) {
    f <- survfit(Surv(time, event) ~ 1, conf.type = ct)
    if (is.null(out)) {
      out <- list(time = f$time, n_risk = f$n.risk, n_event = f$n.event,
                  n_censor = f$n.censor, surv = f$surv, std_err = f$surv * f$std.err)
    }
    out[[paste0("lower_", ct)]] <- f$lower
    out[[paste0("upper_", ct)]] <- f$upper
  }
  out
}

survdiff_block <- function(time, event, group) {
  if (length(unique(group)) < 2 || sum(event) == 0) return(NULL)
  sd <- survdiff(Surv(time, event) ~ factor(group))
  df <- sum(sd$exp > 0) - 1
  list(chisq = sd$chisq, df = df, p = pchisq(sd$chisq, df, lower.tail = FALSE),
       groups = sort(unique(as.character(group))),
       observed = as.numeric(sd$obs), expected = as.numeric(sd$exp))
}

# cuminc curve on the right-continuous grid: keep the last entry of each time
cif_curve <- function(part) {
  keep <- !duplicated(part$time, fromLast = TRUE)
  list(time = part$time[keep], est = part$est[keep], var = part$var[keep])
}

cuminc_block <- function(time, status, group) {
  curves <- list()
  if (all(status == 0)) return(curves)
  causes <- sort(unique(status[status != 0]))
  overall <- cuminc(time, status)
  for (k in causes) {
    cv <- cif_curve(overall[[paste("1", k)]])
    curves[[length(curves) + 1]] <- c(list(group = NULL, cause = k), cv)
  }
  if (length(unique(group)) > 1) {
    byg <- cuminc(time, status, group)
    for (g in sort(unique(as.character(group)))) for (k in causes) {
      cv <- cif_curve(byg[[paste(g, k)]])
      curves[[length(curves) + 1]] <- c(list(group = g, cause = k), cv)
    }
  }
  curves
}

tests_block <- function(time, status, group, strata = NULL) {
  if (length(unique(group)) < 2 || all(status == 0)) return(list())
  out <- list()
  for (rho in c(0, 1)) {
    tt <- if (is.null(strata)) cuminc(time, status, group, rho = rho)$Tests
          else cuminc(time, status, group, strata = strata, rho = rho)$Tests
    for (i in seq_len(nrow(tt))) {
      out[[length(out) + 1]] <- list(cause = as.integer(rownames(tt)[i]), rho = rho,
                                     stratified = !is.null(strata),
                                     stat = tt[i, "stat"], pv = tt[i, "pv"], df = tt[i, "df"])
    }
  }
  out
}

followup_block <- function(time, event) {
  tab <- summary(survfit(Surv(time, 1 - event) ~ 1))$table
  list(median = unname(tab["median"]), lower = unname(tab["0.95LCL"]),
       upper = unname(tab["0.95UCL"]), min = min(time), max = max(time))
}

write_reference <- function(name, description, time, status, group, strata = NULL) {
  event <- as.integer(status > 0)
  ref <- list(
    name = name, description = description,
    data = list(time = time, status = as.integer(status), group = as.character(group),
                strata = if (is.null(strata)) NULL else as.character(strata)),
    km = km_block(time, event),
    survdiff = survdiff_block(time, event, group),
    cuminc = cuminc_block(time, status, group),
    tests = c(tests_block(time, status, group),
              if (!is.null(strata)) tests_block(time, status, group, strata) else list()),
    followup = followup_block(time, event)
  )
  writeLines(toJSON(ref, digits = I(15), auto_unbox = TRUE, na = "null", null = "null"),
             paste0("ref_", name, ".json"))
  cat(sprintf("%-22s n=%4d censored=%5.1f%% causes=%s groups=%d\n", name, length(time),
              100 * mean(status == 0), paste(sort(unique(status[status > 0])), collapse = ","),
              length(unique(group))))
}

set.seed(20230601)

# 1. five patients, worked by hand in the tests
write_reference("hand5", "five patients; tie of a relapse and a censoring at day 3",
                time = c(2, 3, 3, 5, 8), status = c(1, 1, 0, 2, 0),
                group = c("a", "b", "a", "b", "a"))

# 2. eight patients with ties of causes and of events with censorings
write_reference("hand8", "eight patients; tied event and censoring times",
                time = c(1, 2, 2, 3, 4, 5, 6, 6), status = c(0, 1, 0, 2, 1, 0, 1, 2),
                group = c("x", "x", "y", "y", "x", "y", "x", "y"))

# 3. many tied times shared by different causes
n <- 80
write_reference("ties_between_causes", "80 patients on 8 distinct days: causes tie often",
                time = sample(1:8, n, TRUE), status = sample(0:2, n, TRUE, prob = c(.2, .4, .4)),
                group = sample(c("A", "B"), n, TRUE))

# 4. heavy censoring (about 85 %)
n <- 400
write_reference("heavy_censoring", "400 patients, about 85% censored, three groups",
                time = round(rexp(n, 1 / 400), 1),
                status = sample(0:2, n, TRUE, prob = c(.86, .08, .06)),
                group = sample(c("g1", "g2", "g3"), n, TRUE))

# 5. a group with no event of cause 1
n <- 120
grp <- sample(c("a", "b", "c"), n, TRUE)
st <- sample(0:2, n, TRUE, prob = c(.3, .4, .3))
st[grp == "c" & st == 1] <- 2
write_reference("group_without_cause1", "group c has competing events but no cause-1 event",
                time = ceiling(rexp(n, 1 / 300)), status = st, group = grp)

# 6. three causes
n <- 300
write_reference("three_causes", "three causes of failure, two groups",
                time = ceiling(rexp(n, 1 / 500)),
                status = sample(0:3, n, TRUE, prob = c(.3, .3, .2, .2)),
                group = sample(c("low", "high"), n, TRUE))

# 7. strata, with a group effect on cause 1
n <- 600
grp <- sample(c("ctrl", "trt"), n, TRUE)
strat <- sample(c("s1", "s2", "s3"), n, TRUE)
t1 <- rexp(n, ifelse(grp == "trt", 1 / 700, 1 / 450) * c(s1 = 1, s2 = 1.5, s3 = 0.7)[strat])
t2 <- rexp(n, 1 / 900)
tc <- runif(n, 100, 2000)
tm <- pmin(t1, t2, tc)
write_reference("strata", "600 patients, 3 strata, group effect on cause 1 (Gray with strata)",
                time = round(tm), status = ifelse(tm == tc, 0, ifelse(tm == t1, 1, 2)),
                group = grp, strata = strat)

# 8. large: 2000 patients, whole days (many ties of events with censorings)
n <- 2000
grp <- sample(c("A", "B"), n, TRUE)
t1 <- rexp(n, ifelse(grp == "A", 1 / 1500, 1 / 1100))
t2 <- rexp(n, 1 / 2500)
tc <- runif(n, 30, 1800)
tm <- pmin(t1, t2, tc)
write_reference("large_2000", "2000 patients, whole days, two groups",
                time = ceiling(tm), status = ifelse(tm == tc, 0, ifelse(tm == t1, 1, 2)),
                group = grp)

# 9. ties between event and censoring times, an event at day 0
n <- 100
tt <- sample(0:20, n, TRUE)
write_reference("tied_event_censoring", "100 patients on 21 days incl. day 0",
                time = tt, status = sample(0:2, n, TRUE), group = sample(c("u", "v"), n, TRUE))

# 10. everybody fails: the KM reaches 0 (NaN limits) and the CIFs sum to 1
write_reference("no_censoring", "12 patients, no censoring: KM reaches 0",
                time = c(3, 5, 5, 8, 9, 12, 12, 15, 20, 22, 30, 41),
                status = c(1, 2, 1, 1, 2, 1, 1, 2, 1, 2, 1, 1),
                group = rep(c("p", "q"), 6))

# 11. continuous times, four groups
n <- 150
write_reference("four_groups", "150 patients, continuous times, four groups",
                time = round(rweibull(n, 1.3, 600), 4), status = sample(0:2, n, TRUE),
                group = sample(c("G1", "G2", "G3", "G4"), n, TRUE))

# 12. the bundled synthetic cohort, if present (times and status derived as load_cohort does)
cohort_file <- file.path("..", "..", "data", "cohort.csv")
if (file.exists(cohort_file)) {
  co <- read.csv(cohort_file, stringsAsFactors = FALSE)
  relapsed <- !is.na(co$relapse_days)
  rn_time <- ifelse(relapsed, co$relapse_days, co$followup_days)
  rn_status <- ifelse(relapsed, 1L, ifelse(co$dead == 1, 2L, 0L))
  write_reference("cohort_relapse_nrm",
                  "bundled cohort: relapse (1) vs non-relapse mortality (2), by MRD before 2nd HSCT",
                  time = rn_time, status = rn_status, group = co$mrd_before_second_hsct)
  write_reference("cohort_os", "bundled cohort: overall survival, by MRD before 2nd HSCT",
                  time = co$followup_days, status = co$dead, group = co$mrd_before_second_hsct)
}

if (file.exists("crr_reference.R")) source("crr_reference.R")

write_multistate_all()
