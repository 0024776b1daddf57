"""AWS public prices used by the cost tables: us-east-1 (US East, N. Virginia), looked up 2026-12-01.

Each price names where it was read. These are list prices without free tiers, Savings Plans or
volume tiers. Where a price could not be found in the material available when this was written, it
is ``None`` and the tables say so instead of inventing one.
"""

from __future__ import annotations

from dataclasses import dataclass

REGION = "us-east-1"
LOOKED_UP = "2026-12-01"


@dataclass(frozen=True)
class Price:
    usd: float | None
    unit: str
    source: str


LAMBDA_X86_GB_S = Price(
    0.0000166667,
    "per GB-second (x86_64, first 6 billion GB-s/month)",
    "aws.amazon.com/lambda/pricing (US East examples); tiers as listed by cloudchipr.com "
    "'AWS Lambda Pricing'",
)
LAMBDA_ARM_GB_S = Price(
    0.0000133334,
    "per GB-second (arm64, first 7.5 billion GB-s/month)",
    "aws.amazon.com/lambda/pricing; cloudchipr.com 'AWS Lambda Pricing'",
)
LAMBDA_REQUEST = Price(0.20 / 1e6, "per request ($0.20 per 1M)", "aws.amazon.com/lambda/pricing")
TITAN_V2_PER_1K_TOKENS = Price(
    0.00002,
    "per 1,000 input tokens (Titan Text Embeddings V2, on demand)",
    "aws.amazon.com/bedrock/pricing does not show the figure in the stored copy; $0.00002 is the "
    "value in several public price tables (one third-party table says $0.20 per 1M, ten times higher)",
)
S3V_PUT_PER_GB = Price(
    0.20,
    "per GB of logical vector data written (128 KB minimum per PutVectors request)",
    "S3 Vectors pricing as quoted by caylent.com and exploreagentic.ai (AWS's pricing example)",
)
S3V_STORAGE_GB_MONTH = Price(0.06, "per logical GB-month", "same sources as the PUT price")
S3V_QUERY_REQUEST = Price(
    2.50 / 1e6, "per QueryVectors call ($2.50 per 1M)", "oflight.co.jp S3 Vectors guide (us-east-1)"
)
S3V_QUERY_DATA = Price(
    None,
    "per TB of data processed by queries",
    "not found as a number in the stored material (classmethod.jp describes it: average vector size "
    "x vectors in the index); left out, small for indexes of thousands of vectors",
)
DDB_WRITE_UNIT = Price(
    0.625 / 1e6,
    "per write request unit, on demand ($0.625 per 1M, after the Nov 2024 50% cut)",
    "airbyte.com 'Amazon DynamoDB Pricing' (US East)",
)
SQS_REQUEST = Price(
    0.40 / 1e6,
    "per standard-queue request ($0.40 per 1M, each 64 KB a request)",
    "cloudburn.io and factualminds.com SQS pricing guides (us-east-1)",
)
TEXTRACT_PAGE = Price(
    1.50 / 1000, "per page, DetectDocumentText ($1.50 per 1,000)", "dius.com.au 'Amazon Textract' (2022)"
)
S3_GET_REQUEST = Price(None, "per GET/HEAD request", "not looked up in the stored material; left out")

ALL = {
    "Lambda duration, x86_64": LAMBDA_X86_GB_S,
    "Lambda duration, arm64": LAMBDA_ARM_GB_S,
    "Lambda requests": LAMBDA_REQUEST,
    "Bedrock Titan Text Embeddings V2": TITAN_V2_PER_1K_TOKENS,
    "S3 Vectors PUT": S3V_PUT_PER_GB,
    "S3 Vectors storage": S3V_STORAGE_GB_MONTH,
    "S3 Vectors queries": S3V_QUERY_REQUEST,
    "S3 Vectors query data processed": S3V_QUERY_DATA,
    "DynamoDB on-demand writes": DDB_WRITE_UNIT,
    "SQS standard requests": SQS_REQUEST,
    "Textract DetectDocumentText": TEXTRACT_PAGE,
    "S3 GET/HEAD requests": S3_GET_REQUEST,
}


def table() -> str:
    rows = ["| item | price (USD) | unit | source |", "| --- | ---: | --- | --- |"]
    for name, price in ALL.items():
        shown = "not found" if price.usd is None else f"{price.usd:.10g}"
        rows.append(f"| {name} | {shown} | {price.unit} | {price.source} |")
    return "\n".join(rows)
