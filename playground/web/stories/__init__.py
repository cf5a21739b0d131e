"""Each order's story on the verdict page: the audit table, paged and filtered (audit_table), one
order's sequence (order_sequence) drawn (picture) and told in one sentence (sentence), and the
page (views)."""
