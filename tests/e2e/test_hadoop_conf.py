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
