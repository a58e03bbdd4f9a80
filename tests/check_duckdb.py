"""DuckDB, a second engine, reads the tables through the pipeline's catalog (check_tables.py
calls it): the file catalog by its version hints (`iceberg_scan` of each table's directory),
a REST catalog by name (through its OAuth2 token endpoint with the S3 keys as client
credentials, as SeaweedFS serves it: DuckDB signs SigV4 only for AWS host names). It finds
fact_sales' rows and revenue as PyIceberg does, and runs the template's Athena named queries,
whose answers must agree with the fact table."""
import os
import pathlib

import pyarrow.compute as pc
from cfnlint.decode import decode

TEMPLATE = pathlib.Path(__file__).resolve().parent.parent / "template.yaml"
# How the named queries name a table (Athena's catalog for an S3 Tables bucket).
ATHENA_PREFIX = '"s3tablescatalog/${S3TablesBucketName}".'
TABLES = ["fact_sales", "dim_customers", "dim_products", "dim_dates"]


def connect(warehouse, props):
    """A DuckDB connection where `lakehouse_db.<table>` names each gold table. The S3 keys are
    exactly PyIceberg's: no session token, which DuckDB would otherwise take from the
    environment (a test's role session)."""
    import duckdb
    from duckdb_extensions import import_extension
    con = duckdb.connect()
    for extension in ("httpfs", "avro", "iceberg"):
        import_extension(extension)
        con.execute(f"LOAD {extension}")
    if props.get("s3.endpoint"):
        scheme, host = props["s3.endpoint"].split("://", 1)
        con.execute(f"""CREATE SECRET lake (TYPE s3, KEY_ID '{props["s3.access-key-id"]}',
            SECRET '{props["s3.secret-access-key"]}', SESSION_TOKEN '', REGION '{props["s3.region"]}',
            ENDPOINT '{host}', URL_STYLE 'path', USE_SSL {str(scheme == "https").lower()})""")
    uri = os.environ.get("LAKEHOUSE_CATALOG_URI")
    if uri:
        con.execute(f"""CREATE SECRET catalog (TYPE iceberg, CLIENT_ID '{props["s3.access-key-id"]}',
            CLIENT_SECRET '{props["s3.secret-access-key"]}', OAUTH2_SERVER_URI '{uri}/v1/oauth/tokens')""")
        con.execute(f"""ATTACH '{os.environ["LAKEHOUSE_CATALOG_WAREHOUSE"]}' AS tables
            (TYPE iceberg, ENDPOINT '{uri}', SECRET catalog)""")
        con.execute("USE tables.lakehouse_db")
    else:
        con.execute("CREATE SCHEMA lakehouse_db")
        for name in TABLES:
            con.execute(f"""CREATE VIEW lakehouse_db.{name} AS
                SELECT * FROM iceberg_scan('{warehouse}/lakehouse_db/{name}')""")
    return con


def named_queries():
    """{name: SQL} of the template's Athena named queries, their tables named as in DuckDB."""
    template, errors = decode(str(TEMPLATE))
    assert template is not None, errors
    queries = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Athena::NamedQuery":
            sql = resource["Properties"]["QueryString"]["Fn::Sub"]
            queries[resource["Properties"]["Name"]] = sql.replace(ATHENA_PREFIX, "")
    return queries


def check(warehouse, props, fact, check):
    """Checks DuckDB's reading against PyIceberg's fact table `fact`; returns its row count."""
    con = connect(warehouse, props)
    rows, orders, revenue = con.sql(
        "SELECT count(*), count(DISTINCT order_id), sum(amount) FROM lakehouse_db.fact_sales").fetchone()
    want = pc.sum(fact["amount"]).as_py()
    check(rows == orders == fact.num_rows and abs(revenue - want) < 0.005 * max(1, rows),
          f"duckdb: fact_sales has {rows} rows, {orders} orders, revenue {revenue}; "
          f"pyiceberg {fact.num_rows} rows, revenue {want}")

    queries = named_queries()
    check(sorted(queries) == ["Customers by country", "Revenue by month", "Top products"],
          f"template's named queries: {sorted(queries)}")
    answers = {name: con.sql(sql).fetchall() for name, sql in queries.items()}
    kept = pc.not_equal(fact["status"], "cancelled")
    kept_revenue = pc.sum(pc.filter(fact["amount"], kept)).as_py() or 0
    by_month = answers.get("Revenue by month", [])
    check(by_month and abs(sum(r[3] for r in by_month) - kept_revenue) < 0.01 * len(by_month) + 0.01,
          f"named query 'Revenue by month': {sum(r[3] for r in by_month)} revenue, fact has {kept_revenue}")
    check(sum(r[2] for r in by_month) == pc.sum(kept.cast("int64")).as_py(),
          "named query 'Revenue by month' counts other orders than fact_sales holds")
    top = answers.get("Top products", [])
    check(0 < len(top) <= 10 and all(a[4] >= b[4] for a, b in zip(top, top[1:])),
          f"named query 'Top products' returned {len(top)} rows, or not by revenue")
    countries = answers.get("Customers by country", [])
    check(sum(r[2] for r in countries) == fact.num_rows
          and sum(r[1] for r in countries) == len(set(fact["customer_id"].to_pylist())),
          "named query 'Customers by country' does not account for every fact and customer once")
    return rows
