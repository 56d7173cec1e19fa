"""The bad-submission corpus: a small chapter, its verification spec, and the cases."""
