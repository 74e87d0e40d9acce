"""hadoop.conf.dir: a logical HA name service from hdfs-site.xml resolves to the NameNode."""
import json
import os

from conftest import (Lakesink, committed_files, connector_props, create_topic, produce, read_bytes, unique,
                      wait_until, worker_props)


def test_name_service_from_hadoop_conf_dir(kafka, hdfs, hdfs_url, lakesink_bin, workdir):
    namenode = hdfs_url.removeprefix("hdfs://")
    conf = os.path.join(workdir, "hadoop-conf")
    os.makedirs(conf)
    with open(os.path.join(conf, "hdfs-site.xml"), "w") as f:
        f.write(f"""<?xml version="1.0"?>
<configuration>
  <property><name>dfs.nameservices</name><value>lakecluster</value></property>
  <property><name>dfs.ha.namenodes.lakecluster</name><value>nn1,nn2</value></property>
  <property><name>dfs.namenode.rpc-address.lakecluster.nn1</name><value>{namenode}</value></property>
  <property><name>dfs.namenode.rpc-address.lakecluster.nn2</name><value>127.0.0.1:1</value></property>
  <property><name>dfs.client.failover.proxy.provider.lakecluster</name>
            <value>org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider</value></property>
</configuration>
""")
    with open(os.path.join(conf, "core-site.xml"), "w") as f:
        f.write('<?xml version="1.0"?>\n<configuration/>\n')
    topic, root = unique("ha"), f"/{unique('lake')}"
    create_topic(kafka, topic, 1)
    produce(kafka, topic, [json.dumps({"n": i}).encode() for i in range(50)])
    connector = connector_props(unique("ha"), topic, "hdfs://lakecluster", root, flush__size=50,
                                format__class="JsonFormat", hadoop__conf__dir=conf)
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka, schemas=False), connector)
    try:
        wait_until(lambda: committed_files(hdfs, root, topic).get(0), 60, "a commit through the name service", sink)
    finally:
        assert sink.stop() == 0, sink.output()[-2000:]
    [(start, end, path)] = committed_files(hdfs, root, topic)[0]
    assert (start, end) == (0, 49)
    assert [json.loads(l)["n"] for l in read_bytes(hdfs, path).decode().splitlines()] == list(range(50))


def write_blocksize_conf(workdir, value):
    conf = os.path.join(workdir, f"hadoop-conf-{unique('bs')}")
    os.makedirs(conf)
    with open(os.path.join(conf, "hdfs-site.xml"), "w") as f:
        f.write(f"""<?xml version="1.0"?>
<configuration>
  <property><name>dfs.blocksize</name><value>{value}</value></property>
</configuration>
""")
    return conf


def test_streamed_files_take_the_block_size_of_the_client_configuration(kafka, hdfs, hdfs_url, lakesink_bin,
                                                                       workdir):
    """As with Hadoop's Java client, dfs.blocksize in hadoop.conf.dir sets the block size of
    the files written (the test bed's NameNode default is 16 MiB). 6 MB of JSON lines per file
    are streamed while the file fills, so its size is not known when it is created."""
    conf = write_blocksize_conf(workdir, "1m")
    topic, root = unique("blocks"), f"/{unique('lake')}"
    create_topic(kafka, topic, 1)
    values = [json.dumps({"n": i, "pad": "p" * 1000}).encode() for i in range(12_000)]
    produce(kafka, topic, values)
    connector = connector_props(unique("blocks"), topic, hdfs_url, root, flush__size=6000,
                                format__class="JsonFormat", hadoop__conf__dir=conf)
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka, schemas=False), connector)
    try:
        wait_until(lambda: len(committed_files(hdfs, root, topic).get(0, [])) == 2, 90, "two commits", sink)
    finally:
        assert sink.stop() == 0, sink.output()[-2000:]
    files = committed_files(hdfs, root, topic)[0]
    assert [(s, e) for s, e, _ in files] == [(0, 5999), (6000, 11999)]
    for _, _, path in files:
        status = hdfs.get_file_info(path)
        assert status.length > 6_000_000, (path, status.length)
        assert status.blocksize == 1 << 20, (path, status.blocksize)
    lines = [l for _, _, p in files for l in read_bytes(hdfs, p).decode().splitlines()]
    assert [json.loads(l)["n"] for l in lines] == list(range(12_000))


def test_an_invalid_block_size_stops_the_connector_with_the_file_and_key_named(kafka, hdfs_url, lakesink_bin,
                                                                              workdir):
    conf = write_blocksize_conf(workdir, "12q")
    topic = unique("blocks")
    create_topic(kafka, topic, 1)
    connector = connector_props(unique("blocks"), topic, hdfs_url, f"/{unique('lake')}", flush__size=10,
                                format__class="JsonFormat", hadoop__conf__dir=conf)
    sink = Lakesink(lakesink_bin, workdir, worker_props(kafka, schemas=False), connector)
    try:
        status, trace = sink.wait_failed(connector["name"], 60)
    finally:
        sink.kill()
    out = sink.output()
    # The connector itself fails (its storage cannot be opened): no task was started.
    assert status["connector"]["state"] == "FAILED" and status["tasks"] == [], status
    assert f"{conf}/hdfs-site.xml" in trace and "dfs.blocksize = '12q': not a size" in trace, trace
    assert f"{conf}/hdfs-site.xml" in out and "dfs.blocksize = '12q': not a size" in out, out[-2000:]
