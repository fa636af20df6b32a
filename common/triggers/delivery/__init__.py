"""Push delivery (docs/triggers.md, "Push delivery"), by concept:

* `messages`  the delivery queue's messages, the retry schedule, SendMessageBatch;
* `dispatch`  the events stream → one message per (event, matching subscription);
* `attempts`  one message → sign, POST, record the attempt, the subscription's streak;
* `retries`   the due-time sweep of the `retry` function;
* `replay`    a time window sent again, page by page.
"""
