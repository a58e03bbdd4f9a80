#!/usr/bin/env python3
"""Reads the lakehouse's Iceberg tables with PyIceberg, an engine independent of the writer,
and checks them against what the synthetic source says a correct pipeline must produce.

usage: check_tables.py <warehouse-uri> <expected.json>
<warehouse-uri> is the file catalog's directory, `<lake>/warehouse` (the raw parts are read from
its parent). With LAKEHOUSE_CATALOG_URI set, the tables are loaded by name from that Iceberg REST
catalog instead (LAKEHOUSE_CATALOG_WAREHOUSE, LAKEHOUSE_CATALOG_SIGV4 as the pipeline reads them).
S3 settings come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.
Exits non-zero with every failed check listed.
"""
import datetime
import json
import os
import sys
from collections import Counter

import pyarrow.compute as pc
import pyarrow.fs as pafs
from pyiceberg.expressions import And, GreaterThan, GreaterThanOrEqual, LessThan, EqualTo
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.table import StaticTable

import check_duckdb
import check_spark
import readers

failures = []


def check(ok, message):
    if not ok:
        failures.append(message)


def properties():
    props = {}
    if os.environ.get("AWS_ENDPOINT_URL"):
        props["s3.endpoint"] = os.environ["AWS_ENDPOINT_URL"]
        props["s3.access-key-id"] = os.environ.get("AWS_ACCESS_KEY_ID", "")
        props["s3.secret-access-key"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        props["s3.region"] = os.environ.get("AWS_REGION", "us-east-1")
        props["s3.force-virtual-addressing"] = "false"
    return props


_rest = []


def rest_catalog():
    """The REST catalog the pipeline wrote to, or None for the file catalog."""
    uri = os.environ.get("LAKEHOUSE_CATALOG_URI")
    if not uri:
        return None
    if not _rest:
        props = {"uri": uri, "warehouse": os.environ["LAKEHOUSE_CATALOG_WAREHOUSE"], **properties()}
        service = os.environ.get("LAKEHOUSE_CATALOG_SIGV4", "none")
        if service != "none":
            props.update({
                "rest.sigv4-enabled": "true", "rest.signing-name": service,
                "rest.signing-region": os.environ.get("AWS_REGION", "us-east-1"),
                "client.access-key-id": os.environ.get("AWS_ACCESS_KEY_ID", ""),
                "client.secret-access-key": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
                "client.region": os.environ.get("AWS_REGION", "us-east-1")})
        _rest.append(RestCatalog("rest", **props))
    return _rest[0]


def load(warehouse, name):
    catalog = rest_catalog()
    if catalog is not None:
        return catalog.load_table(("lakehouse_db", name))
    return StaticTable.from_metadata(f"{warehouse}/lakehouse_db/{name}", properties=properties())


def ids_where(table, row_filter):
    return sorted(table.scan(row_filter=row_filter).to_arrow()["order_id"].to_pylist())


def check_pruned_reads(name, table, full):
    """Filtered reads (which prune by partition values and column statistics) must return the
    rows a full scan filtered in memory returns."""
    dates = sorted(set(full["order_date"].to_pylist()))
    check(len(dates) > 2, f"{name}: expected several order_date partitions, got {len(dates)}")
    mid, later = dates[len(dates) // 2], dates[(3 * len(dates)) // 4]
    cases = [
        (f"order_date == {mid}", EqualTo("order_date", mid.isoformat()),
         pc.equal(full["order_date"], mid)),
        (f"{mid} <= order_date < {later}",
         And(GreaterThanOrEqual("order_date", mid.isoformat()), LessThan("order_date", later.isoformat())),
         pc.and_(pc.greater_equal(full["order_date"], mid), pc.less(full["order_date"], later))),
        ("amount > 100", GreaterThan("amount", 100.0), pc.greater(full["amount"], 100.0)),
        ("amount > 1000", GreaterThan("amount", 1000.0), pc.greater(full["amount"], 1000.0)),
    ]
    for label, expr, mask in cases:
        expected = sorted(full.filter(mask)["order_id"].to_pylist())
        got = ids_where(table, expr)
        check(len(expected) > 0, f"{name}: filter {label} selects nothing; the check proves nothing")
        check(got == expected, f"{name}: filtered read {label} returned {len(got)} rows, full scan {len(expected)}")


def filesystem(uri):
    """A pyarrow filesystem for a lake URI (S3 with the settings PyIceberg reads the tables
    with, or local) and the path in it."""
    if uri.startswith("s3://"):
        props = properties()
        endpoint = props.get("s3.endpoint", "")
        fs = pafs.S3FileSystem(
            endpoint_override=endpoint.split("://", 1)[-1] or None,
            scheme="http" if endpoint.startswith("http://") else "https",
            access_key=props.get("s3.access-key-id"),
            secret_key=props.get("s3.secret-access-key"),
            region=props.get("s3.region"))
        return fs, uri[len("s3://"):]
    return pafs.LocalFileSystem(), uri


SOURCE_FIELDS = ["order_id", "customer_id", "customer_name", "customer_email", "customer_country",
                 "customer_segment", "product_id", "product_name", "product_category", "quantity",
                 "unit_price", "amount", "currency", "status", "order_date", "updated_at"]


def raw_parts(warehouse):
    """{part key (relative to the lake): [line, ...]} of the lake's raw parts (a sibling of the
    warehouse)."""
    fs, root = filesystem(warehouse[: -len("/warehouse")])
    parts = {}
    for info in fs.get_file_info(pafs.FileSelector(f"{root}/raw", recursive=True)):
        # `name#n` is a local lake's staging file (lakehouse_core::durable): one a killed
        # writer left behind was never published, and readers of the lake do not list it.
        if (info.type != pafs.FileType.File or not info.base_name.startswith("part-")
                or "#" in info.base_name):
            continue
        with fs.open_input_stream(info.path) as f:
            parts[info.path[len(root) + 1:]] = f.read().decode(errors="replace").split("\n")
    return parts


def raw_records(parts):
    """Every record of the raw parts, each field as the text it was sent: a string's content,
    a number's token as written, true/false; null is None."""
    text = lambda v: v if v is None or isinstance(v, str) else ("true" if v else "false")
    records = []
    for lines in parts.values():
        for line in lines:
            if line.strip():
                record = json.loads(line, parse_float=str, parse_int=str)
                records.append({k: text(v) for k, v in record.items()})
    return records


def check_quarantined_as_sent(warehouse, quarantine):
    """Each quarantined row holds every source field of a raw record exactly as it was sent,
    and, for a record refused on its own, its line as sent at the part and line it names (a
    duplicate's line is rebuilt from its fields: transformer::transform::quarantined)."""
    parts = raw_parts(warehouse)
    sent = {tuple(r.get(f) for f in SOURCE_FIELDS) for r in raw_records(parts)}
    rows = quarantine.select(SOURCE_FIELDS + ["reason", "raw", "part", "line"]).to_pylist()
    unsent = [r for r in rows if tuple(r[f] for f in SOURCE_FIELDS) not in sent]
    check(not unsent, f"quarantine: {len(unsent)} of {len(rows)} rows are not a raw record as sent, "
          f"e.g. {unsent[:2]}")
    misplaced = [r for r in rows if r["reason"] != "duplicate_record"
                 and (r["part"] not in parts or r["line"] is None
                      or parts[r["part"]][r["line"] - 1] != r["raw"])]
    check(not misplaced, f"quarantine: {len(misplaced)} of {len(rows)} rows whose line is not the one "
          f"sent at their part and line, e.g. {misplaced[:1]}")
    hashes = quarantine["raw_hash"].to_pylist()
    check(len(hashes) == len(set(hashes)) and None not in hashes,
          f"quarantine: {len(hashes) - len(set(hashes))} rows of the same line (raw_hash) twice")


def check_entity(warehouse, silver_name, dim_name, key, referenced):
    """An entity table (written as appends of new keys and rewrites, see lakehouse_tables::entity)
    holds each key once and every key the silver orders name, and its dimension mirrors it.
    Returns the dimension's keys and the entity table as read."""
    silver = load(warehouse, silver_name).scan().to_arrow()
    dim = load(warehouse, dim_name).scan().to_arrow()
    for name, table in [(silver_name, silver), (dim_name, dim)]:
        keys = table[key].to_pylist()
        check(len(keys) == len(set(keys)), f"{name}: {len(keys) - len(set(keys))} duplicate {key} rows")
        check(referenced <= set(keys), f"{name}: {len(referenced - set(keys))} {key}s of silver orders missing")
    columns = dim.column_names
    as_rows = lambda t: sorted(tuple(r[c] for c in columns) for r in t.select(columns).to_pylist())
    check(as_rows(silver) == as_rows(dim), f"{dim_name}: does not mirror {silver_name}")
    return set(dim[key].to_pylist()), silver


def latest_rows(orders, key, columns):
    """key -> the values of `columns` in the silver order row with the latest updated_at, and the
    keys whose latest rows (several at the same updated_at) disagree."""
    latest, ties = {}, set()
    for r in orders.select([key, "updated_at", *columns]).to_pylist():
        seen = latest.get(r[key])
        if seen is None or r["updated_at"] > seen["updated_at"]:
            latest[r[key]] = r
        elif r["updated_at"] == seen["updated_at"] and any(r[c] != seen[c] for c in columns):
            ties.add(r[key])
    return {k: tuple(r[c] for c in columns) for k, r in latest.items()}, ties


def check_entity_from_orders(name, entity, orders, key, attributes, changed):
    """An entity table holds each key's attributes as its latest order carries them: a record
    carries its customer's and product's attributes as they were at its updated_at, and every
    version a later one replaced was older, so the latest silver row has the entity's latest."""
    want, ties = latest_rows(orders, key, attributes)
    check(not ties, f"{name}: {len(ties)} keys whose latest orders disagree, e.g. {sorted(ties)[:3]}")
    have = {r[key]: tuple(r[a] for a in attributes) for r in entity.select([key, *attributes]).to_pylist()}
    wrong = [k for k, w in want.items() if have.get(k) != w]
    check(not wrong, f"{name}: {len(wrong)} of {len(want)} keys whose attributes are not their latest "
          f"order's, e.g. {[(k, have.get(k), want[k]) for k in wrong[:2]]}")
    check(changed > 0, f"source: no {name} changed attributes; the attribute check proves less")


def check_first_order_dates(customers, orders, moved):
    """first_order_date is the earliest order date delivered for the customer. Without a moved
    order that is the earliest over its silver orders; an update that moved an order's date may
    have been delivered after the version with its first date, which then still counts, so the
    first date lies between the earliest creation date and the earliest current date."""
    earliest, created = {}, {}
    for r in orders.select(["customer_id", "order_id", "order_date"]).to_pylist():
        c = r["customer_id"]
        earliest[c] = min(earliest.get(c, r["order_date"]), r["order_date"])
        first = datetime.date.fromisoformat(moved[r["order_id"]]) if r["order_id"] in moved else r["order_date"]
        created[c] = min(created.get(c, first), first)
    have = {r["customer_id"]: r["first_order_date"] for r in customers.to_pylist()}
    wrong = [c for c in earliest
             if have.get(c) is None or not created[c] <= have[c] <= earliest[c]]
    check(not wrong, f"customers_transformed: {len(wrong)} of {len(earliest)} customers without "
          f"their earliest order date, e.g. {[(c, have.get(c), created[c], earliest[c]) for c in wrong[:3]]}")


def check_lineage(warehouse, names):
    """Every snapshot has its parent: walking back from the current snapshot reaches them all,
    each made by a run; and an earlier snapshot reads back (time travel)."""
    for name in names:
        table = load(warehouse, name)
        snapshots = {s.snapshot_id: s for s in table.metadata.snapshots}
        seen, at = [], table.metadata.current_snapshot_id
        while at is not None and at in snapshots and at not in seen:
            seen.append(at)
            at = snapshots[at].parent_snapshot_id
        check(len(seen) == len(snapshots),
              f"{name}: {len(seen)} of {len(snapshots)} snapshots are ancestors of the current one")
        if name in ("orders_transformed", "fact_sales") and len(seen) > 1:
            earlier = table.scan(snapshot_id=seen[1]).to_arrow()
            ids = earlier["order_id"].to_pylist()
            check(len(ids) > 0 and len(ids) == len(set(ids)),
                  f"{name}: the previous snapshot reads {len(ids)} rows, {len(ids) - len(set(ids))} twice")


def check_time_travel(warehouse, as_of):
    """The snapshot an earlier run committed reads back what the source held then: in silver
    and in fact_sales, every valid order of that moment once, with its status then."""
    want = as_of["valid_orders"]
    for name in ("orders_transformed", "fact_sales"):
        table = load(warehouse, name)
        made = [s for s in table.metadata.snapshots
                if (s.summary or {}).get("lakehouse.run-id") == as_of["run_id"]]
        check(len(made) == 1, f"{name}: {len(made)} snapshots of run {as_of['run_id']}, want 1")
        if not made:
            continue
        rows = table.scan(snapshot_id=made[0].snapshot_id).to_arrow()
        ids = rows["order_id"].to_pylist()
        status = dict(zip(ids, rows["status"].to_pylist()))
        check(len(ids) == len(set(ids)) and status == want,
              f"{name} as of run {as_of['run_id']}: {len(ids)} rows, {len(set(ids))} orders, "
              f"source had {len(want)} valid then; {sum(status.get(o) != s for o, s in want.items())} differ")


def check_version_hints(warehouse, names):
    """Each table's version-hint.text names its newest metadata version, which readers that go
    by the hint (StaticTable from a table directory, DuckDB, Spark's Hadoop catalog) load."""
    fs, base = filesystem(warehouse)
    for name in names:
        metadata = f"{base}/lakehouse_db/{name}/metadata"
        versions = [int(i.base_name[1:-len(".metadata.json")])
                    for i in fs.get_file_info(pafs.FileSelector(metadata))
                    if i.base_name.startswith("v") and i.base_name.endswith(".metadata.json")]
        with fs.open_input_stream(f"{metadata}/version-hint.text") as f:
            hint = int(f.read().decode().strip())
        check(versions and hint == max(versions),
              f"{name}: version-hint.text says {hint}, newest metadata is v{max(versions, default=None)}")


def main():
    warehouse, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path) as f:
        expected = json.load(f)
    valid = expected["valid_orders"]

    orders_t = load(warehouse, "orders_transformed")
    orders = orders_t.scan().to_arrow()
    ids = orders["order_id"].to_pylist()
    check(len(ids) == len(set(ids)), f"silver: {len(ids) - len(set(ids))} duplicate order_id rows")
    check(set(ids) == set(valid),
          f"silver: {len(set(ids))} distinct orders, source has {len(valid)} valid "
          f"(missing {len(set(valid) - set(ids))}, unexpected {len(set(ids) - set(valid))})")
    status = dict(zip(ids, orders["status"].to_pylist()))
    wrong = [o for o, s in valid.items() if status.get(o) != s]
    check(not wrong, f"silver: {len(wrong)} orders without their latest status, e.g. {wrong[:3]}")
    updated = sum(1 for s in valid.values() if s != "placed")
    check(updated > 0, "source had no updated orders; the status check proves nothing")
    dates = dict(zip(ids, (d.isoformat() for d in orders["order_date"].to_pylist())))
    moved_dates = [o for o, d in expected["order_dates"].items() if dates.get(o) != d]
    check(not moved_dates, f"silver: {len(moved_dates)} orders not on their latest order_date, "
          f"e.g. {[(o, dates.get(o), expected['order_dates'][o]) for o in moved_dates[:3]]}")
    check(len(expected["moved_orders"]) > 0, "source moved no order's date; the date check proves less")
    years = pc.year(orders["order_date"]).to_pylist()
    check(years == orders["order_year"].to_pylist(), "silver: order_year disagrees with order_date")
    months = pc.month(orders["order_date"]).to_pylist()
    check(months == orders["order_month"].to_pylist(), "silver: order_month disagrees with order_date")

    quarantine = load(warehouse, "orders_quarantine").scan().to_arrow()
    have = Counter(zip(quarantine["order_id"].to_pylist(), quarantine["reason"].to_pylist()))
    want = Counter((oid, reason) for oid, reason in expected["bad_records"])
    missing = {k: n - have[k] for k, n in want.items() if have[k] < n}
    check(not missing, f"quarantine: {sum(missing.values())} bad records missing, e.g. {list(missing)[:3]}")
    extra = {k: n - want[k] for k, n in have.items() if n > want[k]}
    check(not extra, f"quarantine: {sum(extra.values())} rows beyond the source's bad records "
          f"(quarantined twice?), e.g. {list(extra)[:3]}")
    check(all(r for r in quarantine["reason"].to_pylist()), "quarantine: a row without a reason")
    check(len(want) > 0, "source had no bad records; the quarantine check proves nothing")
    check_quarantined_as_sent(warehouse, quarantine)

    fact_t = load(warehouse, "fact_sales")
    fact = fact_t.scan().to_arrow()
    fids = fact["order_id"].to_pylist()
    check(len(fids) == len(set(fids)), f"fact_sales: {len(fids) - len(set(fids))} duplicate order_id rows")
    check(set(fids) == set(valid), f"fact_sales: {len(set(fids))} orders, source has {len(valid)} valid")
    fstatus = dict(zip(fids, fact["status"].to_pylist()))
    check(all(fstatus.get(o) == s for o, s in valid.items()), "fact_sales: stale statuses")
    fdates = dict(zip(fids, (d.isoformat() for d in fact["order_date"].to_pylist())))
    check(fdates == dates, "fact_sales: order dates differ from silver's")

    customers, customers_table = check_entity(
        warehouse, "customers_transformed", "dim_customers", "customer_id",
        {r["customer_id"] for r in orders.select(["customer_id"]).to_pylist()})
    check_entity_from_orders("customers_transformed", customers_table, orders, "customer_id",
                             ["customer_name", "customer_email", "customer_country", "customer_segment"],
                             expected["changed_customers"])
    check_first_order_dates(customers_table, orders, expected["moved_orders"])
    products, products_table = check_entity(
        warehouse, "products_transformed", "dim_products", "product_id",
        {r["product_id"] for r in orders.select(["product_id"]).to_pylist()})
    check_entity_from_orders("products_transformed", products_table, orders, "product_id",
                             ["product_name", "product_category", "unit_price"],
                             expected["changed_products"])
    dates = set(load(warehouse, "dim_dates").scan().to_arrow()["date_key"].to_pylist())
    orphans = [
        ("customer", sum(1 for c in fact["customer_id"].to_pylist() if c not in customers)),
        ("product", sum(1 for p in fact["product_id"].to_pylist() if p not in products)),
        ("date", sum(1 for d in fact["order_date"].to_pylist() if d not in dates)),
    ]
    for dim, n in orphans:
        check(n == 0, f"fact_sales: {n} rows without their {dim} dimension row")

    counts = {"orders_transformed": orders.num_rows, "orders_quarantine": quarantine.num_rows,
              "customers_transformed": customers_table.num_rows, "dim_customers": len(customers),
              "products_transformed": products_table.num_rows, "dim_products": len(products),
              "dim_dates": len(dates)}
    engines = {"duckdb": check_duckdb.check(warehouse, properties(), fact, counts, check)}
    check_pruned_reads("orders_transformed", orders_t, orders)
    check_pruned_reads("fact_sales", fact_t, fact)
    if rest_catalog() is None:
        # Spark reads the file catalog only (check_spark.py says why).
        engines["spark"] = check_spark.check(warehouse, properties(), fact, counts, check)
        # The hint is the file catalog's; a REST catalog tracks the current metadata itself.
        check_version_hints(warehouse, readers.TABLES)
    else:
        listed = {name for _, name in rest_catalog().list_tables("lakehouse_db")}
        check(listed == set(readers.TABLES), f"the REST catalog lists {sorted(listed)}, want {readers.TABLES}")
    check_lineage(warehouse, readers.TABLES)
    if "as_of" in expected:
        check_time_travel(warehouse, expected["as_of"])

    print(f"pyiceberg: silver {len(ids)} orders ({updated} updated), fact {len(fids)} "
          f"({', '.join(f'{engine}: {rows}' for engine, rows in engines.items())}), "
          f"quarantine {quarantine.num_rows}, dims {len(customers)}/{len(products)}/{len(dates)}")
    if failures:
        print("FAILED checks:", *failures, sep="\n  ", file=sys.stderr)
        sys.exit(1)
    print("all pyiceberg checks passed")


if __name__ == "__main__":
    main()
