"""The jars Spark 3.5 needs to read Iceberg tables, from PyPI packages, built into the virtualenv
by scripts/setup.sh (`python tests/iceberg_spark_jars.py`).

Iceberg's Spark runtime (1.10.2) comes in `snowpark-connect-deps-iceberg` (tests/requirements.txt),
the only package in a registry these machines reach that ships it, and that copy lacks the
Jackson the runtime was built against: its classes still name
`org.apache.iceberg.shaded.com.fasterxml.jackson.*`, but those classes were stripped. The Jackson
jar puts them back as Iceberg's build does (Maven's shade plugin, relocating the package):
Jackson 2.18's jars from `snowpark-connect-deps-2`, every class's constant pool and service file
rewritten from `com.fasterxml.jackson` to the relocated name. Nothing else in the runtime is
touched. (The stripped copy also lacks the shaded Apache HttpClient 5 that Iceberg's REST client
needs, which is why Spark reads no REST catalog here.)

S3 is read through Hadoop's S3A: hadoop-aws 3.3.1 and the AWS SDK bundle it was built with,
taken from the `sagemaker-pyspark` source package, which ships both."""
import os
import pathlib
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile

SHARE = pathlib.Path(sys.prefix) / "share" / "lakehouse"
S3A_PACKAGE = "sagemaker-pyspark==1.4.5"
S3A_JARS = ["hadoop-aws-3.3.1.jar", "aws-java-sdk-bundle-1.11.901.jar"]

RELOCATED = [(b"com/fasterxml/jackson/", b"org/apache/iceberg/shaded/com/fasterxml/jackson/"),
             (b"com.fasterxml.jackson.", b"org.apache.iceberg.shaded.com.fasterxml.jackson.")]
JACKSON = ["jackson-core-2.18.8.jar", "jackson-databind-2.18.8.jar", "jackson-annotations-2.18.8.jar"]
# Bytes after the tag of each constant-pool entry kind but Utf8 (1), which carries its length.
ENTRY_SIZES = {3: 4, 4: 4, 5: 8, 6: 8, 7: 2, 8: 2, 9: 4, 10: 4, 11: 4, 12: 4, 15: 3, 16: 2, 17: 4,
               18: 4, 19: 2, 20: 2}


def runtime_jar():
    import snowpark_connect_deps_iceberg
    return snowpark_connect_deps_iceberg.get_jar_path("iceberg-spark-runtime-3.5_2.12-1.10.2.jar")


def relocate(data):
    for old, new in RELOCATED:
        data = data.replace(old, new)
    return data


def relocate_class(data):
    """The class file with every Utf8 constant relocated; the rest of the file refers to
    constants by index, so it is kept byte for byte."""
    count = struct.unpack(">H", data[8:10])[0]
    out, at, index = [data[:10]], 10, 1
    while index < count:
        tag = data[at]
        if tag == 1:
            length = struct.unpack(">H", data[at + 1:at + 3])[0]
            text = relocate(data[at + 3:at + 3 + length])
            out.append(b"\x01" + struct.pack(">H", len(text)) + text)
            at += 3 + length
        else:
            out.append(data[at:at + 1 + ENTRY_SIZES[tag]])
            at += 1 + ENTRY_SIZES[tag]
            index += tag in (5, 6)  # a long or a double takes two slots
        index += 1
    out.append(data[at:])
    return b"".join(out)


def jackson_jar():
    return SHARE / "iceberg-shaded-jackson-2.18.8.jar"


def s3a_jars():
    return [SHARE / name for name in S3A_JARS]


def missing():
    """The jars setup has not built yet."""
    return [jar for jar in [jackson_jar(), *s3a_jars()] if not jar.exists()]


def build_jackson_jar(target):
    import snowpark_connect_deps_2
    jars = pathlib.Path(snowpark_connect_deps_2.__file__).parent / "jars"
    fd, scratch = tempfile.mkstemp(dir=target.parent, suffix=".jar")
    written = set()
    with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as out:
        for name in JACKSON:
            with zipfile.ZipFile(jars / name) as jar:
                for entry in jar.namelist():
                    relocated = relocate(entry.encode()).decode()
                    # Module descriptors and signatures would describe the unrelocated classes.
                    if relocated in written or entry.endswith("/") or entry.endswith("module-info.class") or (
                            entry.startswith("META-INF/") and not entry.startswith("META-INF/services/")):
                        continue
                    data = jar.read(entry)
                    out.writestr(relocated, relocate_class(data) if entry.endswith(".class") else relocate(data))
                    written.add(relocated)
    os.chmod(scratch, 0o644)
    os.replace(scratch, target)


def fetch_s3a_jars():
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--disable-pip-version-check", "-d", scratch, S3A_PACKAGE], check=True)
        [archive] = pathlib.Path(scratch).glob("*.tar.gz")
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = pathlib.PurePosixPath(member.name).name
                if name in S3A_JARS:
                    with tar.extractfile(member) as jar, open(SHARE / (name + ".part"), "wb") as out:
                        shutil.copyfileobj(jar, out)
                    os.replace(SHARE / (name + ".part"), SHARE / name)


if __name__ == "__main__":
    SHARE.mkdir(parents=True, exist_ok=True)
    if not jackson_jar().exists():
        build_jackson_jar(jackson_jar())
    if any(not jar.exists() for jar in s3a_jars()):
        fetch_s3a_jars()
    assert not missing(), f"not built: {missing()}"
