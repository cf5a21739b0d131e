"""One module per raw record format: the producer log, the ledger, the Kafka-to-Kafka output
value and the arm file.

Each holds its layout once (the bytes its writer emits, the fields a reader may use), its one
writer, and every way of reading it: the whole-line decode, the fast forms the live page reads
(the live tally, the log strip) and the columns the audit loads into DuckDB. Every reader refuses
a line its writer could not have written, with a ValueError that names the record, as the audit
refuses a record without an order id. tests/engine/test_formats.py writes with the writer and
reads back through every reader.

The modules are imported by the workers that write them, which never load numpy (it would add a
tenth of a second to every worker start): the fast readers import columns.py, and numpy with it,
when first called.
"""
