"""Alerts and digests (issue 17): rules on saved views matched against ingested
articles, spikes of a view's volume, and the delivery of both by e-mail and webhook.

Layer: may import core, shared, tagging, feeds and store; polling, services, web and
cli may import it. Modules:

- ``content``: the values a message is built from (``AlertContent``, ``AlertArticle``);
- ``match``: a saved view's query compiled to a predicate, rules indexed for speed;
- ``hook``: the poller's hook, enqueuing "new" matches in the articles' transaction;
- ``spike``: a view's count in the last N hours against its 28-day baseline;
- ``webhook``: signed JSON POSTs through the guarded client;
- ``smtp``: sending an ``EmailMessage`` with smtplib in a thread;
- ``mail``: the alert e-mail's content; ``digest``: the digests (``send_due``);
- ``links``: newsmon URLs and signed unsubscribe tokens;
- ``runner``: claims due deliveries, honours batches, quiet hours and caps, sends.
"""
