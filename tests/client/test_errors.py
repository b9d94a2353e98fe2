"""Error answers become typed exceptions carrying message, code, HTTP status and request id."""

from __future__ import annotations

import asyncio
import uuid

import botocore.session
import pytest

from openstage.client import (
    ConflictException,
    IvsRealTimeClient,
    IvsRealTimeError,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    StaticCredentials,
    ValidationException,
)
from openstage.client.api import ERRORS, AutoParticipantRecordingConfiguration, S3StorageConfiguration
from tests.client.clients import SECURED_KEY, typed_client
from tests.seed import arn
from tests.server import Server


def test_every_error_of_the_model_has_its_class() -> None:
    model = botocore.session.get_session().get_service_model("ivs-realtime")
    modelled = {model.shape_for(name) for name in model.shape_names}
    codes = {shape.error_code for shape in modelled if shape.metadata.get("exception")}
    assert set(ERRORS) == codes
    assert all(issubclass(cls, IvsRealTimeError) and cls.__name__ == code for code, cls in ERRORS.items())


def test_not_found_is_404_with_request_id(client: IvsRealTimeClient) -> None:
    missing = arn("stage")

    async def main() -> None:
        with pytest.raises(ResourceNotFoundException) as excinfo:
            await client.get_stage(arn=missing)
        error = excinfo.value
        assert (error.code, error.status) == ("ResourceNotFoundException", 404)
        assert missing in error.message
        assert error.request_id is not None and uuid.UUID(error.request_id)
        assert str(error) == f"ResourceNotFoundException (HTTP 404, request id {error.request_id}): {error.message}"

    asyncio.run(main())


def test_validation_is_400_with_the_servers_message(client: IvsRealTimeClient) -> None:
    async def main() -> None:
        with pytest.raises(ValidationException) as excinfo:
            await client.create_stage(name="bad name!")  # botocore does not check patterns: the server does
        error = excinfo.value
        assert (error.code, error.status) == ("ValidationException", 400)
        assert "name" in error.message and error.request_id

    asyncio.run(main())


def test_conflict_is_409(client: IvsRealTimeClient) -> None:
    async def main() -> None:
        bucket = f"conflict-{uuid.uuid4().hex[:12]}.example"
        storage = await client.create_storage_configuration(s3=S3StorageConfiguration(bucket_name=bucket))
        storage_arn = storage.storage_configuration.arn
        recording = AutoParticipantRecordingConfiguration(storage_configuration_arn=storage_arn)
        stage = (await client.create_stage(auto_participant_recording_configuration=recording)).stage
        with pytest.raises(ConflictException) as excinfo:
            await client.delete_storage_configuration(arn=storage_arn)
        error = excinfo.value
        assert (error.code, error.status) == ("ConflictException", 409)
        assert stage.arn in error.message and storage_arn in error.message

    asyncio.run(main())


def test_quota_is_402(secured: Server) -> None:
    async def main() -> None:
        async with typed_client(secured, SECURED_KEY) as client:
            with pytest.raises(ServiceQuotaExceededException) as excinfo:
                for _ in range(2):  # the quota is one stage; another test may have made it already
                    await client.create_stage()
        error = excinfo.value
        assert (error.code, error.status) == ("ServiceQuotaExceededException", 402)
        assert error.message and error.request_id

    asyncio.run(main())


def test_unmodelled_code_is_the_generic_error(secured: Server) -> None:
    wrong = StaticCredentials(SECURED_KEY.access_key_id, "not-the-secret")

    async def main() -> None:
        async with typed_client(secured, wrong) as client:
            with pytest.raises(IvsRealTimeError) as excinfo:
                await client.list_stages()
        error = excinfo.value
        assert type(error) is IvsRealTimeError
        assert (error.code, error.status) == ("InvalidSignatureException", 403)
        assert "signature" in error.message and error.request_id

    asyncio.run(main())
