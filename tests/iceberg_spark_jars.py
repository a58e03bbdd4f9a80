"""The jars Spark 3.5 needs to read Iceberg tables, from PyPI packages (tests/requirements.txt).

Iceberg's Spark runtime (1.10.2) comes in `snowpark-connect-deps-iceberg`, the only package in a
registry these machines reach that ships it, and that copy lacks the Jackson the runtime was
built against: its classes still name `org.apache.iceberg.shaded.com.fasterxml.jackson.*`, but
those classes were stripped. `jackson_jar()` puts them back as Iceberg's build does (Maven's shade
plugin, relocating the package): Jackson 2.18's jars from `snowpark-connect-deps-2`, every
class's constant pool and service file rewritten from `com.fasterxml.jackson` to the relocated
name. Nothing else in the runtime is touched."""
import os
import pathlib
import struct
import sys
import tempfile
import zipfile

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
    """The relocated Jackson jar, built once into the virtualenv (a few seconds)."""
    target = pathlib.Path(sys.prefix) / "share" / "lakehouse" / "iceberg-shaded-jackson-2.18.8.jar"
    if target.exists():
        return target
    import snowpark_connect_deps_2
    jars = pathlib.Path(snowpark_connect_deps_2.__file__).parent / "jars"
    target.parent.mkdir(parents=True, exist_ok=True)
    # Checks run in parallel: each builds its own file and renames it into place.
    fd, scratch = tempfile.mkstemp(dir=target.parent, suffix=".jar")
    written = set()
    with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as out:
        for name in JACKSON:
            with zipfile.ZipFile(jars / name) as jar:
                for entry in jar.namelist():
                    # Module descriptors and signatures would describe the unrelocated classes.
                    name = relocate(entry.encode()).decode()
                    if name in written or entry.endswith("/") or entry.endswith("module-info.class") or (
                            entry.startswith("META-INF/") and not entry.startswith("META-INF/services/")):
                        continue
                    data = jar.read(entry)
                    out.writestr(name, relocate_class(data) if entry.endswith(".class") else relocate(data))
                    written.add(name)
    os.replace(scratch, target)
    return target
