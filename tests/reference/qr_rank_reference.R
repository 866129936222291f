# Reference ranks of R's qr() (LINPACK dqrdc2, tol = 1e-7): cmprsk::cuminc computes Gray's statistic only
# where qr(v)$rank is full, so hsct_analysis.stats.chisquare.qr_rank must decide as qr does.
#
# Run from tests/reference:   Rscript qr_rank_reference.R      (also run by `make reference`)
# Needs R with survival, cmprsk and jsonlite. Writes qr_rank.json: `cases[*]` = {label, matrix (rows), rank},
# the rank computed on the matrix as the JSON stores it (15 significant digits), so reading the file back gives
# exactly the matrix R ranked. The matrices: covariance-like (symmetric, positive semi-definite) of 2 to 4
# groups, one direction shrunk by a factor around the tolerance, at several scales; zero rows and columns;
# rank-1 matrices; general (non-symmetric) matrices with a nearly dependent column; entries near 1e-200 and 1e200.

source("reference_helpers.R")
set.seed(20261204)

round_trip <- function(m) {
  m <- fromJSON(toJSON(m, digits = NA, matrix = "rowmajor"))
  matrix(as.numeric(m), nrow = nrow(m))
}
cases <- list()
add <- function(label, m) {
  m <- round_trip(m)
  cases[[length(cases) + 1]] <<- list(label = label, matrix = m, rank = qr(m)$rank)
}

shrinks <- c(1e-3, 1e-5, 3e-7, 2e-7, 1.2e-7, 1e-7, 8e-8, 5e-8, 1e-8, 1e-10, 1e-14, 0)
for (p in 2:4) for (shrink in shrinks) for (scale in c(1e-6, 1, 1e4)) for (rep in 1:2) {
  q <- qr.Q(qr(matrix(rnorm(p * p), p)))
  d <- c(runif(p - 1, 0.5, 2), shrink)
  add(sprintf("psd p=%d shrink=%g scale=%g", p, shrink, scale), scale * q %*% diag(d) %*% t(q))
}
for (p in 2:4) {
  m <- crossprod(matrix(rnorm(p * p), p))
  k <- sample(p, 1)
  m[k, ] <- 0
  m[, k] <- 0
  add(sprintf("zero row and column p=%d", p), m)
  v <- rnorm(p)
  add(sprintf("rank one p=%d", p), v %o% v)
}
for (p in 2:4) for (eps in c(1e-4, 1e-6, 1.5e-7, 1e-7, 6e-8, 1e-9)) {
  m <- matrix(rnorm(p * p), p)
  m[, p] <- m[, 1] * 2 + eps * rnorm(p)
  add(sprintf("general p=%d dependent column eps=%g", p, eps), m)
}

# tiny and huge entries: column norms that a plain sum of squares would underflow or overflow (dnrm2 scales)
for (scale in c(1e-200, 1e200)) for (p in 1:3) {
  add(sprintf("diagonal p=%d scale=%g", p, scale), diag(scale, p))
  m <- crossprod(matrix(rnorm(p * p), p))
  add(sprintf("psd p=%d scale=%g", p, scale), scale * m)
}
m <- diag(c(1, 1e-180))
add("mixed column scales 1 and 1e-180", m)

write_json_fixture(list(description = "qr(m)$rank, R's default tol = 1e-7", versions = versions(),
                        cases = cases), "qr_rank.json")
