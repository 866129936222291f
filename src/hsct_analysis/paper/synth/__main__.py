"""``python -m hsct_analysis.paper.synth --out data/cohort.csv``: write the synthetic cohort."""

import sys

from hsct_analysis.paper.synth import main

sys.exit(main())
