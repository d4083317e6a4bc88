"""Alarms on what stops the line or loses visitors, and one dashboard of the whole deployment.

Every alarm notifies the alarm topic (and so ``alarm_email``). What each one watches, first the
admission path, because a line that stops admitting is the worst failure a waiting room has:

- admission function: any error or throttle (the serving counter stops moving);
- expiry function and SQS consumer: errors and throttles (places stop expiring, entries wait);
- every other function: repeated errors;
- public API: 5XX answers and p99 latency;
- entry queue: depth (the oldest entry's age and the dead-letter queue are alarmed beside the queue);
- store: Valkey memory use and evictions per node, or DynamoDB throttled requests.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

MINUTE = Duration.minutes(1)
CACHE_MEMORY_PERCENT = 80
"""Valkey with ``noeviction`` refuses writes when full: warn well before."""
QUEUE_DEPTH = 50_000
API_P99_MS = 3000


class Monitoring(Construct):
    """Alarms (``alarms``) and the dashboard (``dashboard``) of the deployment."""

    def __init__(self, scope: Construct, id: str, *, topic: sns.ITopic, admission: lambda_.IFunction,
                 critical: Sequence[lambda_.IFunction], others: Sequence[lambda_.IFunction], api: apigw.RestApi,
                 queue: sqs.IQueue | None, cache_nodes: Sequence[str], table_name: str | None,
                 metrics_namespace: str, event_ids: Sequence[str]) -> None:
        super().__init__(scope, id)
        self._action = cw_actions.SnsAction(topic)
        self.alarms: list[cloudwatch.Alarm] = []
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))

        functions = [admission, *critical, *others]
        name = _name_of
        for fn in (admission, *critical):
            self._alarm(f"{name(fn)}Errors", fn.metric_errors(period=MINUTE), 0,
                        f"{name(fn)} failed: {'admission stops' if fn is admission else 'the line stalls'}")
            self._alarm(f"{name(fn)}Throttles", fn.metric_throttles(period=MINUTE), 0,
                        f"{name(fn)} was throttled")
        for fn in others:
            self._alarm(f"{name(fn)}Errors", fn.metric_errors(period=Duration.minutes(5)), 5,
                        f"{name(fn)} failed more than 5 times in 5 minutes", periods=1)
        self._alarm("Api5xx", api.metric_server_error(period=Duration.minutes(5)), 10,
                    "the public API answered 5XX more than 10 times in 5 minutes", periods=1)
        self._alarm("ApiLatency", api.metric_latency(period=MINUTE, statistic="p99"), API_P99_MS,
                    f"the public API's p99 latency is over {API_P99_MS} ms")
        store_metrics: list[cloudwatch.IMetric] = []
        if queue is not None:
            depth = queue.metric_approximate_number_of_messages_visible(period=MINUTE, statistic="Maximum")
            self._alarm("EntryQueueDepth", depth, QUEUE_DEPTH, f"over {QUEUE_DEPTH} entries wait in the entry queue")
            store_metrics.extend([depth, queue.metric_approximate_age_of_oldest_message(period=MINUTE)])
        for node in cache_nodes:
            memory = cloudwatch.Metric(namespace="AWS/ElastiCache", metric_name="DatabaseMemoryUsagePercentage",
                                       dimensions_map={"CacheClusterId": node}, period=MINUTE, statistic="Maximum")
            evictions = cloudwatch.Metric(namespace="AWS/ElastiCache", metric_name="Evictions",
                                          dimensions_map={"CacheClusterId": node}, period=MINUTE, statistic="Sum")
            index = node.rsplit("-", 1)[-1] if "-" in node else str(len(store_metrics))
            self._alarm(f"CacheMemory{index}", memory, CACHE_MEMORY_PERCENT,
                        f"cache node uses over {CACHE_MEMORY_PERCENT}% of its memory: choose a larger node type")
            self._alarm(f"CacheEvictions{index}", evictions, 0, "the cache evicted keys: places may be lost")
            store_metrics.extend([memory, evictions])
        if table_name is not None:
            throttled = cloudwatch.MathExpression(
                expression="read + write", period=MINUTE, label="throttled requests",
                using_metrics={
                    kind: cloudwatch.Metric(namespace="AWS/DynamoDB", metric_name=f"{kind.capitalize()}ThrottleEvents",
                                            dimensions_map={"TableName": table_name}, period=MINUTE, statistic="Sum")
                    for kind in ("read", "write")})
            self._alarm("TableThrottles", throttled, 0, "DynamoDB throttled requests of the state table")
            store_metrics.append(throttled)

        waiting = [cloudwatch.Metric(namespace=metrics_namespace, metric_name=metric,
                                     dimensions_map={"EventId": event}, period=MINUTE, statistic="Maximum",
                                     label=f"{event} {metric}")
                   for event in event_ids for metric in ("Waiting", "ServingCounter", "ActiveSessions")]
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Line (per event)", left=waiting, width=12),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=12),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Function errors", left=[fn.metric_errors(period=MINUTE) for fn in functions],
                                   width=8),
            cloudwatch.GraphWidget(title="Function throttles",
                                   left=[fn.metric_throttles(period=MINUTE) for fn in functions], width=8),
            cloudwatch.GraphWidget(title="Public API", left=[api.metric_count(period=MINUTE),
                                                             api.metric_server_error(period=MINUTE)],
                                   right=[api.metric_latency(period=MINUTE, statistic="p99")], width=8),
        )
        if store_metrics:
            self.dashboard.add_widgets(cloudwatch.GraphWidget(title="Entry queue and store", left=store_metrics,
                                                              width=24))

    def _alarm(self, id: str, metric: cloudwatch.IMetric, threshold: float, description: str,
               periods: int = 3) -> None:
        alarm = cloudwatch.Alarm(
            self, id, metric=metric, threshold=threshold, alarm_description=description,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=periods, datapoints_to_alarm=min(periods, 2),
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING)
        alarm.add_alarm_action(self._action)
        self.alarms.append(alarm)


def _name_of(fn: lambda_.IFunction) -> str:
    return fn.node.id
