"""Reads a file from HDFS with the Python hdfs-native client and prints its SHA-256 and size.

usage: hdfs_sha256.py HDFS_URL PATH
"""
import hashlib
import json
import sys

from hdfs_native import Client


def main():
    url, path = sys.argv[1], sys.argv[2]
    client = Client(url)
    digest = hashlib.sha256()
    size = 0
    with client.read(path) as reader:
        while True:
            chunk = reader.read(8 * 1024 * 1024)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    print(json.dumps({"sha256": digest.hexdigest(), "size": size}))


if __name__ == "__main__":
    main()
