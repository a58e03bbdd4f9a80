"""Spark 3.5, a third engine, reads the file catalog as Spark's Hadoop catalog (check_tables.py
calls it): `lakehouse_db.<table>` from the warehouse directory, on local disk or on S3 through
Hadoop's S3A, each table's current metadata by its version hint, through Iceberg's Spark runtime
(1.10.2). What it must find there is readers.check_reader's, as for DuckDB.

Not a REST catalog: the Iceberg runtime that a registry reachable here ships lacks the HTTP
client Iceberg's REST catalog client is built on (iceberg_spark_jars.py)."""
import os
import shutil

import iceberg_spark_jars
import readers


def session(warehouse, props):
    """A local Spark session whose default catalog `lake` is the file catalog at `warehouse`,
    with S3 reached through `props` (PyIceberg's S3 settings)."""
    from pyspark.sql import SparkSession
    if shutil.which("java") is None:
        raise SystemExit("check_spark: no `java` on the PATH; scripts/setup.sh installs a JRE")
    if iceberg_spark_jars.missing():
        raise SystemExit(f"check_spark: {iceberg_spark_jars.missing()} not built: run scripts/setup.sh")
    # Spark would otherwise bind to the host's first interface; everything stays on loopback.
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    jars = [iceberg_spark_jars.runtime_jar(), iceberg_spark_jars.jackson_jar()]
    builder = (SparkSession.builder.master("local[2]").appName("check_spark")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.catalog.lake", "org.apache.iceberg.spark.SparkCatalog")
               .config("spark.sql.catalog.lake.type", "hadoop")
               .config("spark.sql.defaultCatalog", "lake"))
    if warehouse.startswith("s3://"):
        jars += iceberg_spark_jars.s3a_jars()
        endpoint = props["s3.endpoint"]
        s3a = {
            # The metadata names its files s3://...; both schemes go through S3A.
            "fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            "fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
            "fs.s3a.access.key": props["s3.access-key-id"],
            "fs.s3a.secret.key": props["s3.secret-access-key"],
            "fs.s3a.endpoint": endpoint,
            "fs.s3a.endpoint.region": props["s3.region"],
            "fs.s3a.path.style.access": "true",
            "fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https://")).lower(),
        }
        for key, value in s3a.items():
            builder = builder.config(f"spark.hadoop.{key}", value)
        location = "s3a://" + warehouse[len("s3://"):]
    else:
        location = "file://" + os.path.abspath(warehouse)
    spark = (builder.config("spark.sql.catalog.lake.warehouse", location)
             .config("spark.jars", ",".join(str(jar) for jar in jars))
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def check(warehouse, props, fact, counts, check):
    """Checks Spark's reading against PyIceberg's (`fact`, and `counts` of rows by table);
    returns its fact_sales row count."""
    spark = session(warehouse, props)
    try:
        rows_of = lambda sql: [tuple(row) for row in spark.sql(sql).collect()]
        return readers.check_reader("spark", rows_of, fact, counts, check, quote="`")
    finally:
        spark.stop()
