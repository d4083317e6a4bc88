"""Grants on the stateful stack's secrets, each with the KMS half that makes it usable.

The secrets are encrypted with the stack's customer-managed key. ``Secret.grant_read()`` on a
secret imported into another stack adds no KMS statement (the grant on an imported key goes to a
resource policy CDK cannot change, and the key policy only delegates to IAM), so a function that
may read the secret could not decrypt it and would fail at cold start. These helpers write both
halves into the function's own role policy. The KMS statements are limited with ``kms:ViaService``
to Secrets Manager in this region: the key decrypts for the secret, not for a direct call.
(AWS: "Secret encryption and decryption in AWS Secrets Manager", "kms:ViaService".)
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_iam as iam

READ_ACTIONS = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
WRITE_ACTIONS = ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"]


def _via_secrets_manager(grantee: iam.IGrantable) -> dict[str, dict[str, str]]:
    region = Stack.of(grantee).region  # type: ignore[arg-type]
    return {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}}


def read_secret(grantee: iam.IGrantable, *, secret_arn: str, key_arn: str) -> None:
    """``grantee`` may read the secret's current value and decrypt it with ``key_arn``."""
    grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(actions=READ_ACTIONS, resources=[secret_arn]))
    grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
        actions=["kms:Decrypt"], resources=[key_arn], conditions=_via_secrets_manager(grantee)))


def write_secret(grantee: iam.IGrantable, *, secret_arn: str, key_arn: str) -> None:
    """``grantee`` may read and write new versions of the secret (encrypting each with ``key_arn``)."""
    read_secret(grantee, secret_arn=secret_arn, key_arn=key_arn)
    grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(actions=WRITE_ACTIONS, resources=[secret_arn]))
    grantee.grant_principal.add_to_principal_policy(iam.PolicyStatement(
        actions=["kms:GenerateDataKey"], resources=[key_arn], conditions=_via_secrets_manager(grantee)))
