"""Every role that may use a secret may also use the KMS key the secret is encrypted with.

Checked on the synthesized templates of every deployment shape: references across stacks
(``Fn::ImportValue``) are followed to the stateful stack's resources, so a grant is matched to
the very secret and key it names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .conftest import template


def templates(built: Any) -> dict[str, dict[str, Any]]:
    return {stack.stack_name: template(stack).to_json() for stack in built.stacks}


def exports(all_templates: dict[str, dict[str, Any]]) -> dict[str, tuple[str, Any]]:
    """Export name -> (stack name, the exported value)."""
    found = {}
    for stack, body in all_templates.items():
        for output in body.get("Outputs", {}).values():
            if "Export" in output:
                found[output["Export"]["Name"]] = (stack, output["Value"])
    return found


def resolve(stack: str, value: Any, exported: dict[str, tuple[str, Any]]) -> tuple[str, str]:
    """(stack, "Ref:Id" or "Arn:Id") that ``value`` names, following imports across stacks."""
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        stack, value = exported[value["Fn::ImportValue"]]
    if isinstance(value, dict) and "Ref" in value:
        return stack, f"Ref:{value['Ref']}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return stack, f"{value['Fn::GetAtt'][1]}:{value['Fn::GetAtt'][0]}"
    return stack, json.dumps(value, sort_keys=True)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(all_templates: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(stack, role logical id, statement) for every Allow in every role's policies."""
    for stack, body in all_templates.items():
        for resource in body["Resources"].values():
            if resource["Type"] != "AWS::IAM::Policy":
                continue
            for role in resource["Properties"].get("Roles", []):
                for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                    if statement.get("Effect") == "Allow":
                        yield stack, role["Ref"], statement


def secret_keys(all_templates: dict[str, dict[str, Any]]) -> dict[tuple[str, str], tuple[str, str]]:
    """Each secret ("Ref:Id" in its stack) -> the KMS key it is encrypted with ("Arn:Id")."""
    found = {}
    for stack, body in all_templates.items():
        for logical_id, resource in body["Resources"].items():
            if resource["Type"] == "AWS::SecretsManager::Secret":
                key = resource["Properties"]["KmsKeyId"]
                found[(stack, f"Ref:{logical_id}")] = resolve(stack, key, {})
    return found


def test_whoever_may_use_a_secret_may_use_its_key(every_variant: Any) -> None:
    all_templates = templates(every_variant)
    exported = exports(all_templates)
    keys = secret_keys(all_templates)
    grants: dict[tuple[str, str], list[tuple[set[str], set[tuple[str, str]]]]] = {}
    for stack, role, statement in role_statements(all_templates):
        actions = set(as_list(statement["Action"]))
        targets = {resolve(stack, r, exported) for r in as_list(statement["Resource"])}
        grants.setdefault((stack, role), []).append((actions, targets))
    checked = 0
    for role, held in grants.items():
        def may(action: str, target: tuple[str, str], held: list[tuple[set[str], set[tuple[str, str]]]] = held) -> bool:
            return any((action in actions or f"{action}*" in actions) and target in targets
                       for actions, targets in held)

        for actions, targets in held:
            for target in targets:
                if target not in keys:
                    continue
                if "secretsmanager:GetSecretValue" in actions:
                    assert may("kms:Decrypt", keys[target]), (role, target, "reads the secret, cannot decrypt it")
                    checked += 1
                if "secretsmanager:PutSecretValue" in actions:
                    assert may("kms:GenerateDataKey", keys[target]), (role, target, "writes, cannot encrypt")
                    checked += 1
    assert checked >= 8  # the key set for every function, the admin keys, the cache token where there is one


def test_only_the_rotation_function_writes_the_key_set(every_variant: Any) -> None:
    all_templates = templates(every_variant)
    exported = exports(all_templates)
    api = every_variant.api.stack_name
    functions = {logical_id: resource for logical_id, resource in all_templates[api]["Resources"].items()
             if resource["Type"] == "AWS::Lambda::Function"}
    writers = set()
    for stack, role, statement in role_statements(all_templates):
        if "secretsmanager:PutSecretValue" in as_list(statement["Action"]):
            writers.add((stack, role))
            assert {resolve(stack, r, exported)[1] for r in as_list(statement["Resource"])} == {
                f"Ref:{every_variant.stateful.get_logical_id(every_variant.stateful.secrets.key_set.node.default_child)}"}
    rotation = next(f for f in functions.values() if f["Properties"]["Handler"].endswith("key_rotation_handler"))
    assert writers == {(api, rotation["Properties"]["Role"]["Fn::GetAtt"][0])}
    # the first key set is written at deploy time by that function, before any other function exists
    first = [(lid, r) for lid, r in all_templates[api]["Resources"].items() if r["Type"] == "Custom::SigningKeySet"]
    assert len(first) == 1
    logical_id, resource = first[0]
    rotation_id = next(lid for lid, f in functions.items() if f is rotation)
    assert resource["Properties"]["ServiceToken"] == {"Fn::GetAtt": [rotation_id, "Arn"]}
    for lid, function in functions.items():
        if lid != rotation_id and "WAITINGROOM_STORE" in function["Properties"].get("Environment", {}).get(
                "Variables", {}):
            assert logical_id in function.get("DependsOn", []), lid
