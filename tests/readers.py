"""What every independent engine must find in the tables, whichever engine reads them:
check_duckdb.py and check_spark.py run these queries through their engine and check the
answers against PyIceberg's reading of the fact table (check_tables.py calls them)."""
import pathlib

import pyarrow.compute as pc
from cfnlint.decode import decode

TEMPLATE = pathlib.Path(__file__).resolve().parent.parent / "template.yaml"
# How the named queries name a table (Athena's catalog for an S3 Tables bucket).
ATHENA_PREFIX = '"s3tablescatalog/${S3TablesBucketName}".'
TABLES = ["orders_transformed", "customers_transformed", "products_transformed", "orders_quarantine",
          "fact_sales", "dim_customers", "dim_products", "dim_dates"]


def named_queries(quote='"'):
    """{name: SQL} of the template's Athena named queries, each table named
    `lakehouse_db.<table>` with the engine's identifier quote."""
    template, errors = decode(str(TEMPLATE))
    assert template is not None, errors
    queries = {}
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Athena::NamedQuery":
            sql = resource["Properties"]["QueryString"]["Fn::Sub"]
            queries[resource["Properties"]["Name"]] = sql.replace(ATHENA_PREFIX, "").replace('"', quote)
    return queries


def check_reader(engine, rows_of, fact, counts, check, quote='"'):
    """`rows_of(sql)` runs SQL on `engine` and returns its rows as tuples. Checks that the engine
    finds fact_sales' rows and revenue as PyIceberg does (`fact`), the row count of each table in
    `counts`, and that the template's named queries answer in agreement with the fact table.
    Returns the engine's fact_sales row count."""
    rows, orders, revenue = rows_of(
        "SELECT count(*), count(DISTINCT order_id), sum(amount) FROM lakehouse_db.fact_sales")[0]
    want = pc.sum(fact["amount"]).as_py()
    check(rows == orders == fact.num_rows and abs(revenue - want) < 0.005 * max(1, rows),
          f"{engine}: fact_sales has {rows} rows, {orders} orders, revenue {revenue}; "
          f"pyiceberg {fact.num_rows} rows, revenue {want}")
    for name, n in counts.items():
        got = rows_of(f"SELECT count(*) FROM lakehouse_db.{name}")[0][0]
        check(got == n, f"{engine}: {name} has {got} rows, pyiceberg {n}")

    queries = named_queries(quote)
    check(sorted(queries) == ["Customers by country", "Revenue by month", "Top products"],
          f"template's named queries: {sorted(queries)}")
    answers = {name: rows_of(sql) for name, sql in queries.items()}
    kept = pc.not_equal(fact["status"], "cancelled")
    kept_revenue = pc.sum(pc.filter(fact["amount"], kept)).as_py() or 0
    by_month = answers.get("Revenue by month", [])
    check(by_month and abs(sum(r[3] for r in by_month) - kept_revenue) < 0.01 * len(by_month) + 0.01,
          f"{engine}: named query 'Revenue by month': {sum(r[3] for r in by_month)} revenue, "
          f"fact has {kept_revenue}")
    check(sum(r[2] for r in by_month) == pc.sum(kept.cast("int64")).as_py(),
          f"{engine}: named query 'Revenue by month' counts other orders than fact_sales holds")
    top = answers.get("Top products", [])
    check(0 < len(top) <= 10 and all(a[4] >= b[4] for a, b in zip(top, top[1:])),
          f"{engine}: named query 'Top products' returned {len(top)} rows, or not by revenue")
    countries = answers.get("Customers by country", [])
    check(sum(r[2] for r in countries) == fact.num_rows
          and sum(r[1] for r in countries) == len(set(fact["customer_id"].to_pylist())),
          f"{engine}: named query 'Customers by country' does not account for every fact and "
          "customer once")
    return rows
