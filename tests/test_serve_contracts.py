"""The service's contracts: ``/openapi.json`` names a response schema for every endpoint and every
error status, and error statuses follow the exception's type (never its message)."""

from __future__ import annotations

import inspect

import pytest
from fastapi.testclient import TestClient

import cxrlab.errors
from cxrlab.errors import (
    EmptyImageError,
    ImageReadError,
    ImageRefusedError,
    ImageTooLargeError,
    UnknownFormatError,
    UnsupportedDicomError,
)
from cxrlab.io.images import HEADER_FIELDS
from cxrlab.serve.app import create_app
from cxrlab.serve.errors import IMAGE_ERRORS, image_error
from cxrlab.serve.schemas import DicomFields


def _never_loaded():
    raise AssertionError("the schema must not need the model")


@pytest.fixture(scope="module")
def openapi() -> dict:
    with_no_lifespan = TestClient(create_app(_never_loaded))  # no `with`: the predictor is never loaded
    r = with_no_lifespan.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def _schema(openapi: dict, ref: dict) -> tuple[str, dict]:
    name = ref["$ref"].rsplit("/", 1)[-1]
    assert name in openapi["components"]["schemas"], name
    return name, openapi["components"]["schemas"][name]


def _response_schema(openapi: dict, path: str, method: str, status: str) -> tuple[str, dict]:
    response = openapi["paths"][path][method]["responses"][status]
    return _schema(openapi, response["content"]["application/json"]["schema"])


@pytest.mark.parametrize("path, method, schema, fields", [
    ("/health", "get", "Health", {"status", "model", "classes", "heatmaps"}),
    ("/v1/model", "get", "ModelCard", {"classes", "name", "intended_use", "limitations", "thresholds", "temperature"}),
    ("/v1/predict", "post", "PredictResponse", {"filename", "label", "probability", "probabilities", "decision",
                                                 "warnings", "film", "dicom", "temperature", "model", "intended_use",
                                                 "heatmap", "heatmap_note", "image"}),
])
def test_every_endpoint_names_its_response_schema(openapi, path, method, schema, fields):
    name, body = _response_schema(openapi, path, method, "200")
    assert name == schema and fields <= set(body["properties"])
    error, error_body = _response_schema(openapi, path, method, "500")
    assert error == "ErrorResponse" and set(error_body["properties"]) == {"error"}


def test_predict_schema_describes_nested_parts_and_every_error_status(openapi):
    _, body = _schema(openapi, {"$ref": "#/components/schemas/PredictResponse"})
    assert set(_schema(openapi, body["properties"]["decision"])[1]["properties"]) == {"label", "flagged", "rule",
                                                                                     "thresholds"}
    heatmap = next(part for part in body["properties"]["heatmap"]["anyOf"] if "$ref" in part)
    assert set(_schema(openapi, heatmap)[1]["properties"]) == {"class", "png_base64", "colors_png_base64", "width",
                                                               "height"}
    assert set(body["required"]) >= {"filename", "label", "probabilities", "decision", "warnings", "dicom"}
    assert "heatmap" not in body["required"] and "image" not in body["required"]
    _, detail = _schema(openapi, openapi["components"]["schemas"]["ErrorResponse"]["properties"]["error"])
    assert set(detail["properties"]) == {"code", "message"}
    responses = openapi["paths"]["/v1/predict"]["post"]["responses"]
    for status, codes in {"400": ["empty_file", "missing_file", "bad_multipart"], "408": ["upload_timeout"],
                          "413": ["upload_too_large", "too_many_pixels"],
                          "415": ["unsupported_format", "unsupported_dicom"],
                          "422": ["unreadable_image", "not_a_chest_radiograph", "invalid_request"]}.items():
        assert _response_schema(openapi, "/v1/predict", "post", status)[0] == "ErrorResponse"
        assert all(f"`{code}`" in responses[status]["description"] for code in codes), status
    assert "multipart/form-data" in openapi["paths"]["/v1/predict"]["post"]["requestBody"]["content"]


@pytest.mark.parametrize("error, status, code", [
    (EmptyImageError, 400, "empty_file"),
    (ImageTooLargeError, 413, "too_many_pixels"),
    (UnknownFormatError, 415, "unsupported_format"),
    (UnsupportedDicomError, 415, "unsupported_dicom"),
    (ImageRefusedError, 422, "not_a_chest_radiograph"),
    (ImageReadError, 422, "unreadable_image"),
])
def test_status_follows_the_error_type_not_its_message(error, status, code):
    misleading = error("x.dcm", "empty, over the limit, not a recognised image format, unsupported DICOM")
    kind = image_error(misleading)
    assert (kind.status, kind.code) == (status, code)


def test_every_reader_error_type_has_a_status_and_dicom_fields_match_the_reader():
    readers = {cls for _, cls in inspect.getmembers(cxrlab.errors, inspect.isclass) if issubclass(cls, ImageReadError)}
    assert readers == set(IMAGE_ERRORS)
    assert tuple(DicomFields.model_fields) == HEADER_FIELDS
