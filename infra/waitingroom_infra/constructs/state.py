"""DynamoDB state table, the assign queue with its dead-letter queue, signing keys and alarms."""

from __future__ import annotations

from aws_cdk import (
    Duration,
    RemovalPolicy,
)
from aws_cdk import (
    aws_cloudwatch as cloudwatch,
)
from aws_cdk import (
    aws_cloudwatch_actions as cw_actions,
)
from aws_cdk import (
    aws_dynamodb as dynamodb,
)
from aws_cdk import (
    aws_kms as kms,
)
from aws_cdk import (
    aws_secretsmanager as sm,
)
from aws_cdk import (
    aws_sns as sns,
)
from aws_cdk import (
    aws_sns_subscriptions as subscriptions,
)
from aws_cdk import (
    aws_sqs as sqs,
)
from constructs import Construct

# The layout core.adapters.dynamodb expects (tests check these against the module).
PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "ttl"


class StateTable(Construct):
    """The single table of :class:`core.adapters.dynamodb.DynamoDbStore`: queue entries, sessions
    (tokens), authorization codes with a TTL attribute, serving-counter history."""

    def __init__(self, scope: Construct, id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, id)
        self.table = dynamodb.Table(
            self, "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True),
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED, encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN,
        )


ASSIGN_RETENTION = Duration.days(4)
"""How long a queued entry may wait for the consumer. A message older than this is deleted by SQS
and its visitor's request id would never be entered: it must outlast any backlog, and the app
remembers a queued id for as long (``queued_entry.PENDING_TTL``, checked by the tests)."""

OLDEST_MESSAGE_ALARM_SECONDS = 300
"""The consumer is behind when the oldest queued entry has waited this long."""


class AssignQueue(Construct):
    """SQS buffer for ``POST /assign_queue_num``, with a DLQ, an alarm on anything landing there and
    one on the age of the oldest queued entry (the consumer is falling behind)."""

    def __init__(self, scope: Construct, id: str, *, key: kms.IKey, alarm_topic: sns.ITopic,
                 consumer_timeout: Duration) -> None:
        super().__init__(scope, id)
        self.dead_letters = sqs.Queue(
            self, "DeadLetters", encryption=sqs.QueueEncryption.KMS, encryption_master_key=key,
            retention_period=Duration.days(14), enforce_ssl=True)
        self.queue = sqs.Queue(
            self, "Queue", encryption=sqs.QueueEncryption.KMS, encryption_master_key=key,
            visibility_timeout=Duration.seconds(consumer_timeout.to_seconds() * 6),  # AWS guidance for event sources
            retention_period=ASSIGN_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letters, max_receive_count=5),
            enforce_ssl=True)
        self.alarm = cloudwatch.Alarm(
            self, "DeadLettersAlarm",
            alarm_description="assign_queue_num messages failed 5 times and landed in the dead-letter queue",
            metric=self.dead_letters.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
            threshold=0, comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        self.alarm.add_alarm_action(cw_actions.SnsAction(alarm_topic))
        self.age_alarm = cloudwatch.Alarm(
            self, "OldestEntryAlarm",
            alarm_description=f"a queued assign_queue_num entry has waited over {OLDEST_MESSAGE_ALARM_SECONDS} s: "
                              "the consumer is failing or throttled",
            metric=self.queue.metric_approximate_age_of_oldest_message(period=Duration.minutes(1),
                                                                       statistic="Maximum"),
            threshold=OLDEST_MESSAGE_ALARM_SECONDS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3, datapoints_to_alarm=2, treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        self.age_alarm.add_alarm_action(cw_actions.SnsAction(alarm_topic))


class SigningKeys(Construct):
    """Secrets for the token signing key set (written by the key rotation function), the admin keys
    and the header secret CloudFront sends to the public API."""

    def __init__(self, scope: Construct, id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, id)
        self.key_set = sm.Secret(
            self, "KeySet", encryption_key=key,
            description="Waiting room token signing keys (KeySet JSON), written only by the key rotation "
                        "function: the first key set at deploy time, then new versions on its schedule")
        self.admin_keys = sm.Secret(
            self, "AdminKeys", encryption_key=key, description="Bearer keys of the waiting room admin API",
            generate_secret_string=sm.SecretStringGenerator(password_length=48, exclude_punctuation=True))
        self.origin = sm.Secret(
            self, "OriginVerify", encryption_key=key,
            description="Sent by CloudFront as X-Origin-Verify to the public API; the app refuses requests without it",
            generate_secret_string=sm.SecretStringGenerator(password_length=48, exclude_punctuation=True))


class Alarms(Construct):
    """The SNS topic alarms notify (optionally with an e-mail subscription)."""

    def __init__(self, scope: Construct, id: str, *, key: kms.IKey, email: str) -> None:
        super().__init__(scope, id)
        self.topic = sns.Topic(self, "Topic", master_key=key, enforce_ssl=True)
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
