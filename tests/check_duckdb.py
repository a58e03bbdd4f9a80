"""DuckDB, a second engine, reads the tables through the pipeline's catalog (check_tables.py
calls it): the file catalog by its version hints (`iceberg_scan` of each table's directory),
a REST catalog by name (through its OAuth2 token endpoint with the S3 keys as client
credentials, as SeaweedFS serves it: DuckDB signs SigV4 only for AWS host names). What it must
find there is readers.check_reader's: fact_sales' rows and revenue as PyIceberg finds them,
every table's row count, and the template's Athena named queries in agreement with the fact
table."""
import os

import readers


def connect(warehouse, props):
    """A DuckDB connection where `lakehouse_db.<table>` names each table. The S3 keys are
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
        for name in readers.TABLES:
            con.execute(f"""CREATE VIEW lakehouse_db.{name} AS
                SELECT * FROM iceberg_scan('{warehouse}/lakehouse_db/{name}')""")
    return con


def check(warehouse, props, fact, counts, check):
    """Checks DuckDB's reading against PyIceberg's (`fact`, and `counts` of rows by table);
    returns its fact_sales row count."""
    con = connect(warehouse, props)
    return readers.check_reader("duckdb", lambda sql: con.sql(sql).fetchall(), fact, counts, check)
