"""Command-line tools and machinery shared by the tests and the benchmarks: the soak, the recount
apart from the audit, and the whole app as a child process. bench/ and tests/ both import from
here; bench/ never imports tests/, and tests/ imports bench/ only to test it."""
