"""``python -m course_utils.verify COURSE_ROOT``: re-grade submissions outside the learner's kernel.

See :mod:`course_utils.grading.verify` for what it runs and writes.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from course_utils.grading.verify import main

    sys.exit(main())
