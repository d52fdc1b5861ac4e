"""Parquet (docs/api.md, section 16.6): ``to_parquet`` read back with pyarrow and DuckDB
equals iteration, for every payload rule, with the layout, the refusals and the errors;
``archive`` moves exactly what its snapshot saw (late records stay and leave with the
next archive), and with a writer thread appending into the archived windows all along,
files ∪ log hold every record written exactly once."""

import os
import random
import threading

import pytest

from _util import layered_log, manual, require
from timelog import Timelog

pa = require("pyarrow")
pq = require("pyarrow.parquet")
ds = require("pyarrow.dataset")


def read_dir(path):
    """Every row under ``path`` (hive partitions dropped) as ``(ts, value)``, sorted by ts
    then by file order."""
    table = ds.dataset(str(path), partitioning="hive", format="parquet").to_table()
    ts = table.column("ts").cast(pa.int64()).to_pylist()
    if "value" not in table.column_names:
        return sorted(ts)
    return sorted(zip(ts, table.column("value").to_pylist()), key=lambda r: r[0])


def parquet_files(path):
    out = []
    for d, _, names in os.walk(path):
        out += [os.path.join(d, n) for n in names]
    return sorted(out)


# ----- to_parquet ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload, make",
    [
        ("auto", lambda rng, t: t * 3),
        ("auto", lambda rng, t: f"s{t}"),
        ("auto", lambda rng, t: None if t % 3 else float(t)),
        ("int64", lambda rng, t: rng.randrange(-(2**63), 2**63)),
        ("pickle", lambda rng, t: {"t": t}),
    ],
)
def test_to_parquet_equals_iteration(tmp_path, payload, make):
    log = layered_log(random.Random(7), make)
    want = list(log[100:300])
    rep = log.to_parquet(tmp_path / "out", 100, 300, window=32, payload=payload)
    assert rep["rows"] == len(want) and rep["bytes"] > 0
    got = read_dir(tmp_path / "out")
    if payload == "pickle":
        import pickle

        got = [(t, pickle.loads(v)) for t, v in got]
    assert sorted(got, key=lambda r: r[0]) == sorted(want, key=lambda r: r[0])
    # One file per window with records, each inside its window, sorted, with metadata.
    for f in rep["files"]:
        start = int(os.path.basename(os.path.dirname(f["path"])).split("=")[1])
        assert start <= f["ts_min"] <= f["ts_max"] < start + 32
        t = pq.read_table(f["path"])
        ts = t.column("ts").cast(pa.int64()).to_pylist()
        assert ts == sorted(ts) and len(ts) == f["rows"]
        assert pq.read_metadata(f["path"]).metadata[b"timelog.sorted_by"].startswith(b"ts")
    log.close()


def test_to_parquet_ts_types_and_payload_none(tmp_path):
    with Timelog(maintenance="disabled", time_unit="ms") as log:
        log.extend((t, t) for t in range(1_000))
        log.to_parquet(tmp_path / "a", compression="zstd")
        assert pq.read_table(tmp_path / "a").schema.field("ts").type == pa.timestamp("ms")
        log.to_parquet(tmp_path / "b", ts="int64", payload="none", compression="none")
        t = pq.read_table(tmp_path / "b")
        assert t.column_names == ["ts"] and t.column("ts").to_pylist() == list(range(1_000))
        log.to_parquet(tmp_path / "c", compression="zstd:9", row_group_rows=100)
        assert pq.ParquetFile(next(iter(parquet_files(tmp_path / "c")))).num_row_groups == 10


def test_to_parquet_refusals_and_errors(tmp_path):
    with Timelog(maintenance="disabled") as log:
        log.extend((t, t) for t in range(100))
        log.to_parquet(tmp_path, 0, 50)
        with pytest.raises(OSError, match="overwrite"):
            log.to_parquet(tmp_path, 0, 50)
        with pytest.raises(OSError, match="overlap"):
            log.to_parquet(tmp_path, 25, 75)
        log.to_parquet(tmp_path, 0, 50, overwrite=True)
        with pytest.raises(ValueError, match="compression"):
            log.to_parquet(tmp_path / "x", compression="lz4")
        with pytest.raises(ValueError, match="zstd level"):
            log.to_parquet(tmp_path / "x", compression="zstd:99")
        with pytest.raises(ValueError, match="window must be positive"):
            log.to_parquet(tmp_path / "x", window=0)
        log[5] = object()
        with pytest.raises(TypeError, match=r"to_parquet\(payload='auto'\).*row"):
            log.to_parquet(tmp_path / "y")
        with pytest.raises(TypeError, match="row 0"):
            log.extend([(-1, "text")])
            log.to_parquet(tmp_path / "z", payload="int64")
        assert not os.path.exists(tmp_path / "z") or not any(
            p.endswith(".parquet") for p in parquet_files(tmp_path / "z")
        )
        assert len(log) == 102


def test_duckdb_reads_the_partitions(tmp_path):
    duckdb = require("duckdb")
    with Timelog(maintenance="disabled") as log:
        log.extend((t, float(t)) for t in range(5_000))
        log.to_parquet(tmp_path, window=1_000)
        q = f"select window_start, count(*) from read_parquet('{tmp_path}/**/*.parquet', hive_partitioning=true) group by 1 order by 1"
        assert duckdb.sql(q).fetchall() == [(w, 1_000) for w in range(0, 5_000, 1_000)]


# ----- archive ------------------------------------------------------------------------


def test_archive_moves_what_it_saw_and_late_records_follow(tmp_path):
    with manual() as log:
        log.extend((t, t) for t in range(3_000))
        log.flush()
        rep = log.archive(tmp_path, 0, 2_000, window=500)
        assert rep["rows"] == 2_000 and len(rep["files"]) == 4
        assert rep["recovered"] == [] and rep["discarded"] == []
        assert list(log[:2_000]) == [] and len(log) == 1_000
        log.append(7, "late")
        assert list(log[:2_000]) == [(7, "late")]
        with pytest.raises(TypeError):
            # The range now holds a str while payload is fixed to int64: nothing leaves.
            log.archive(tmp_path, 0, 2_000, window=500, payload="int64")
        assert list(log[:2_000]) == [(7, "late")]
        rep = log.archive(tmp_path, 0, 2_000, window=500, payload="pickle")
        assert rep["rows"] == 1
        names = [os.path.basename(p) for p in parquet_files(tmp_path)]
        assert all(n.startswith("part-") and "-a" in n and n.endswith(".parquet") for n in names)
        assert len(log) == 1_000


def test_archive_refuses_to_write_beside_a_plain_export(tmp_path):
    with manual() as log:
        log.extend((t, t) for t in range(100))
        log.to_parquet(tmp_path, 0, 50)
        with pytest.raises(OSError, match="overlap"):
            log.archive(tmp_path, 0, 100)
        assert len(log) == 100


def test_archive_with_a_writer_appending_into_the_archived_windows(tmp_path):
    log = Timelog(memtable_max_bytes=64 << 10, busy_policy="flush")
    n_written = 60_000
    done = threading.Event()
    failed = []

    def writer():
        try:
            for i in range(n_written):
                # In time order, and one in five late: anywhere behind.
                log.append(i * 7919 % (i + 1) if i % 5 == 4 else i, i)
        except BaseException as e:  # reported by the main thread
            failed.append(e)
        finally:
            done.set()

    th = threading.Thread(target=writer)
    th.start()
    archives = 0
    while not done.is_set() or archives < 3:
        archives += 1
        top = log.max_ts()
        log.archive(tmp_path, None, 0 if top is None else max(0, top - 5_000), window=2_000)
    th.join()
    assert not failed, failed
    log.archive(tmp_path, None, n_written // 2, window=2_000)
    values = [v for _, v in read_dir(tmp_path)] + [v for _, v in log]
    assert sorted(values) == list(range(n_written)), "lost or duplicated records"
    assert not any(os.path.basename(p).startswith((".", "_")) for p in parquet_files(tmp_path))
    log.close()
