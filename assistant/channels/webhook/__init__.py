"""The generic JSON webhook channel (a 12345 hotline, a WeCom-style intake): the whole of a channel in one folder.

    adapter.py   the protocol: an HMAC-SHA256 signature over timestamp + body, a timestamp window, replayed message ids
                 refused, the JSON as the front desk's neutral message, answered synchronously with the desk's reply
    router.py    POST /channels/webhook/messages
    notifier.py  the channel's `Notifier`: a report's status notice as a signed POST to the configured callback URL
Settings: `GRIDWORKER_WEBHOOK__*` (settings.WebhookSettings); off (404) until a secret is set.
"""
