"""The loopback servers the connector tests rely on are real and reachable."""

import pytest

boto3 = pytest.importorskip("boto3")


def test_moto_s3_server(s3_bucket, s3_env):
    client = boto3.client("s3", endpoint_url=s3_env)
    client.put_object(Bucket=s3_bucket, Key="k", Body=b"v")
    assert client.get_object(Bucket=s3_bucket, Key="k")["Body"].read() == b"v"


def test_gcs_emulator(gcs_bucket):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket = storage.Client(project="lab-test", credentials=AnonymousCredentials()).bucket(gcs_bucket)
    bucket.blob("k").upload_from_string(b"v")
    assert bucket.blob("k").download_as_bytes() == b"v"


def test_mariadb(mysql_database):
    import sqlalchemy

    engine = sqlalchemy.create_engine(mysql_database)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT VERSION()").scalar()
    engine.dispose()
