"""Push delivery (docs/triggers.md, "Push delivery"), by concept:

* `messages`  the delivery queue's messages, the retry schedule, SendMessageBatch;
* `dispatch`  the events stream → one message per (event, matching subscription);
* `attempts`  one message → its turn, sign, POST, record the attempt, the next retry;
* `streak`    the subscription's failure figures and auto-disable (410 at once);
* `fairness`  tenant and subscription slots, the rate-limit pace, the replay lock;
* `parking`   where a delivery over its share waits, and who wakes it;
* `retries`   the due-time sweep of the `retry` function;
* `replay`    a time window sent again, paced, one at a time (recovery too).
"""
