"""Spark 3.5, a third engine, reads the file catalog as Spark's Hadoop catalog (check_tables.py
calls it): `lakehouse_db.<table>` from the warehouse directory, each table's current metadata by
its version hint, through Iceberg's Spark runtime (1.10.2). What it must find there is
readers.check_reader's, as for DuckDB.

Only a warehouse on local disk: Spark reads S3 through hadoop-aws or Iceberg's AWS bundle, and a
REST catalog's tables through the latter; neither jar is in a registry these machines reach."""
import os
import shutil

import iceberg_spark_jars
import readers


def reads(warehouse, rest_catalog):
    """Whether Spark can read this warehouse here."""
    return rest_catalog is None and "://" not in warehouse


def session(warehouse):
    from pyspark.sql import SparkSession
    if shutil.which("java") is None:
        raise SystemExit("check_spark: no `java` on the PATH; scripts/setup.sh installs a JRE")
    # Spark would otherwise bind to the host's first interface; everything stays on loopback.
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    jars = [iceberg_spark_jars.runtime_jar(), iceberg_spark_jars.jackson_jar()]
    spark = (SparkSession.builder.master("local[2]").appName("check_spark")
             .config("spark.jars", ",".join(str(j) for j in jars))
             .config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.catalog.lake", "org.apache.iceberg.spark.SparkCatalog")
             .config("spark.sql.catalog.lake.type", "hadoop")
             .config("spark.sql.catalog.lake.warehouse", "file://" + os.path.abspath(warehouse))
             .config("spark.sql.defaultCatalog", "lake")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def check(warehouse, fact, counts, check):
    """Checks Spark's reading against PyIceberg's (`fact`, and `counts` of rows by table);
    returns its fact_sales row count."""
    spark = session(warehouse)
    try:
        rows_of = lambda sql: [tuple(row) for row in spark.sql(sql).collect()]
        return readers.check_reader("spark", rows_of, fact, counts, check, quote="`")
    finally:
        spark.stop()
