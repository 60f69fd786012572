"""Every GraphQL document the Railway providers can send is valid for Railway's schema."""

from __future__ import annotations

import pytest
from coachdb_infra.railway import documents
from graphql import OperationDefinitionNode, parse, validate


def test_documents_are_collected():
    # a document added without landing in ALL_DOCUMENTS would escape validation
    assert len(documents.ALL_DOCUMENTS) >= 20
    assert "SERVICE_INSTANCE_DEPLOY" in documents.ALL_DOCUMENTS


@pytest.mark.parametrize("name", sorted(documents.ALL_DOCUMENTS))
def test_document_is_valid_against_railway_schema(schema, name):
    document = parse(documents.ALL_DOCUMENTS[name])
    errors = validate(schema, document)
    assert not errors, f"{name}: {[e.message for e in errors]}"
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1 and operations[0].name is not None


def test_validation_catches_a_renamed_field(schema):
    """The check above can fail: a field Railway does not have is rejected."""
    bad = documents.TCP_PROXIES_GET.replace("proxyPort", "publicPort")
    assert validate(schema, parse(bad))


def test_validation_catches_a_wrong_input_type(schema):
    bad = documents.VOLUME_DELETE.replace("$volumeId: String!", "$volumeId: Int!")
    assert validate(schema, parse(bad))
