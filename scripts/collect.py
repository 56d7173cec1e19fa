"""Same as `make collect`: python scripts/collect.py HANDINS_DIR [COURSE_ROOT] [--chapter NN_topic]."""

import sys

from course_utils.grading.collect import main

if __name__ == "__main__":
    sys.exit(main())
