"""Cluster ids the storage tool accepts."""

from __future__ import annotations

from playground.lab.cluster import new_cluster_id


def test_cluster_ids_never_start_with_a_dash_that_the_storage_tool_reads_as_an_option():
    ids = [new_cluster_id() for _ in range(5000)]
    assert not any(cluster_id.startswith("-") for cluster_id in ids)
    assert {len(cluster_id) for cluster_id in ids} == {22}
