from labdatasets.present.redact import redact, redact_mapping


def test_urls_tokens_and_keys_are_redacted():
    assert redact("mysql+pymysql://reader:s3cret@db:3306/shop") == "mysql+pymysql://reader:***@db:3306/shop"
    assert redact("https://h/x?token=abc&x=1&password=p") == "https://h/x?token=***&x=1&password=***"
    assert "AKIAIOSFODNN7EXAMPLE" not in redact("key AKIAIOSFODNN7EXAMPLE used")
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert redact_mapping({"url": "mysql://u:pw@h/db", "password": "x", "nested": [{"token": "t"}]}) == {
        "url": "mysql://u:***@h/db",
        "password": "***",
        "nested": [{"token": "***"}],
    }
