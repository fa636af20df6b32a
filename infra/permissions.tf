# What each function may do, as data: tests/infra checks it (least privilege,
# the tables each function is meant to use), docs/deploy.md tabulates it, and
# main.tf turns it into one IAM policy per function.
#
# dynamodb.<table>.actions apply to the table's ARN; dynamodb.<table>.indexes
# are the GSIs the function queries (dynamodb:Query on "<table ARN>/index/<name>");
# dynamodb.<table>.leading_key_writes (optional) grants its actions on the table
# only for items whose partition key matches one of leading_keys
# (dynamodb:LeadingKeys, ForAllValues:StringLike).
# TransactWriteItems has no action of its own: IAM checks the per-item actions
# (PutItem, UpdateItem, DeleteItem, ConditionCheckItem) of every item in it.
# The grants below follow the calls common/*.py makes (checked against the code).
# s3 actions apply to "<snapshot bucket ARN>/tenants/*" only; s3_bucket actions
# (optional) to the bucket ARN itself.
# master_key grants secretsmanager:GetSecretValue on the master key secret, which
# every function that derives keys needs: cursor signing (every function with a
# list route) and agent secrets (heartbeat).
#
# When code starts making a new AWS call, add it here: nothing else grants it.
locals {
  # Every function behind an API key reads the key (GetItem) and counts the
  # request in the key's rate-limit window (UpdateItem with ADD). UpdateItem is
  # narrowed to the rate-limit items by their partition key: RL#<key id> (per-key
  # windows, common/access/ratelimit.py) and AF#... (failed-authentication budget:
  # AF#C#<client>, common/access/authguard.py). Key items (KEY#...) stay read-only
  # to the API.
  api_key_access = {
    actions = ["dynamodb:GetItem"]
    indexes = []
    leading_key_writes = {
      actions      = ["dynamodb:UpdateItem"]
      leading_keys = ["RL#*", "AF#*"]
    }
  }

  permissions = {
    events = {
      dynamodb = {
        keys = local.api_key_access
        # One TransactWriteItems: the event, its dedup record and idempotency
        # record (conditional puts), and the day counter; ack is a conditional update.
        events = {
          actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
          indexes = []
        }
        stats = { actions = ["dynamodb:UpdateItem"], indexes = [] }
      }
      s3         = []
      master_key = false
    }

    inbox = {
      dynamodb = {
        keys = local.api_key_access
        # Pages come from the sparse inbox indexes (gsi1/gsi2), leases from their
        # availability twins (gsi3/gsi4), the quarantine from gsi5; every change is a
        # conditional update in a transaction; GetItem reads a lease record.
        # Named queues: a definition and a count item (PutItem, DeleteItem in transactions),
        # the clean-up record a delete leaves for the stream; GET /queues/{name} reads
        # the pending gauge (Query on stats).
        events = { actions = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"], indexes = ["gsi1", "gsi2", "gsi3", "gsi4", "gsi5"] }
        stats  = { actions = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"], indexes = [] }
      }
      s3         = []
      master_key = true
    }

    notes = {
      dynamodb = {
        keys = local.api_key_access
        # Note, thread and deletion in transactions; gsi1 = a thread's notes,
        # gsi2 = a thread's notes of one kind.
        context = {
          actions = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]
          indexes = ["gsi1", "gsi2"]
        }
        stats = { actions = ["dynamodb:UpdateItem"], indexes = [] }
      }
      s3         = []
      master_key = true
    }

    hydrate = {
      dynamodb = {
        keys = local.api_key_access
        # Snapshot metadata, the thread's notes frozen into it, thread activity;
        # gsi2 = GET /threads; DeleteItem and BatchWriteItem = deleting snapshots
        # and threads (common/context/threads.py).
        context = {
          actions = ["dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]
          indexes = ["gsi1", "gsi2"]
        }
        stats = { actions = ["dynamodb:UpdateItem"], indexes = [] }
      }
      # DeleteObjectVersion: an object whose metadata write failed is removed
      # again, by version id, so no orphaned version is left behind; DELETE
      # /snapshots and /threads remove every version (DeleteObjects checks these).
      s3 = ["s3:DeleteObject", "s3:DeleteObjectVersion", "s3:GetObject", "s3:PutObject"]
      # On the bucket itself (listing is a bucket action): the versions of one
      # snapshot key, found with list_object_versions(Prefix=<exact key>).
      s3_bucket  = ["s3:ListBucketVersions"]
      master_key = true
    }

    rehydrate = {
      dynamodb = {
        keys    = local.api_key_access
        context = { actions = ["dynamodb:GetItem", "dynamodb:Query"], indexes = ["gsi1"] }
      }
      s3         = ["s3:GetObject"]
      master_key = false
    }

    # The MCP tools: rehydrate (snapshot metadata + object, as rehydrate), the thread,
    # snapshot and note lists (gsi2 = threads and notes by kind, gsi1 = a thread's notes
    # and snapshots), add_note (one transaction: note put, thread update, day counter).
    # No deletes: no tool removes anything.
    mcp = {
      dynamodb = {
        keys = local.api_key_access
        context = {
          actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]
          indexes = ["gsi1", "gsi2"]
        }
        stats = { actions = ["dynamodb:UpdateItem"], indexes = [] }
      }
      s3         = ["s3:GetObject"]
      master_key = true
    }

    heartbeat = {
      dynamodb = {
        keys = local.api_key_access
        # Agent and name claim (one transaction), conditional heartbeat updates,
        # history entries (Put; GET .../history is a Query of the table), deletion.
        agents = {
          actions = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]
          indexes = ["gsi1"]
        }
        # A recovery puts its agent.recovered event in the inbox (same transaction).
        # Agents as workers lease, ack and release like the inbox function (gsi3/gsi4
        # leases, gsi5 the quarantine) and put job outcomes with their markers (Put);
        # BatchGetItem reads the acknowledged events for their outcome events.
        events = { actions = ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"], indexes = ["gsi3", "gsi4", "held"] }
        stats  = { actions = ["dynamodb:GetItem", "dynamodb:UpdateItem"], indexes = [] }
      }
      s3         = []
      master_key = true
    }

    status = {
      dynamodb = {
        keys = local.api_key_access
        # GET /stats: counters and rollups, plus today's live inbox and agent figures.
        stats  = { actions = ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"], indexes = [] }
        events = { actions = [], indexes = ["gsi1", "gsi3"] }
        agents = { actions = [], indexes = ["gsi1"] }
      }
      s3         = []
      master_key = false
    }

    # Scheduled: live agents by due time; each state change is one transaction of
    # the agent update, its history entry, its inbox event, counter and gauge.
    sweeper = {
      dynamodb = {
        # DeleteItem: a deleted agent's tombstone, once its work is all released.
        agents = { actions = ["dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], indexes = ["gsi2"] }
        # A dead agent's held leases are released at once (bounded per run).
        events = { actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"], indexes = ["held"] }
        stats  = { actions = ["dynamodb:UpdateItem"], indexes = [] }
      }
      s3         = []
      master_key = false
    }

    # Push delivery API: subscriptions and their log (hooks), the replay window
    # counted on the events timeline index, replays handed to the delivery queue.
    subscriptions = {
      dynamodb = {
        keys = local.api_key_access
        hooks = {
          actions = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]
          indexes = []
        }
        events = { actions = [], indexes = ["timeline"] }
      }
      sqs        = { deliveries = ["sqs:SendMessage"] }
      s3         = []
      master_key = true
    }

    # Stream consumer: reads the events stream, the tenant's subscriptions, and
    # sends delivery messages.
    dispatch = {
      dynamodb = {
        hooks = { actions = ["dynamodb:Query"], indexes = [] }
        # Named queues (common.triggers.fanout): the tenant's queues (Query), one
        # transaction per entry (PutItem, ConditionCheckItem, the gauge's UpdateItem);
        # a deleted queue's clean-up reads its pools (gsi1) and quarantine (gsi5) and
        # deletes in batches.
        events = { actions = ["dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"], indexes = ["gsi1", "gsi5"] }
        stats  = { actions = ["dynamodb:BatchWriteItem", "dynamodb:Query", "dynamodb:UpdateItem"], indexes = [] }
      }
      streams = { events = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"] }
      # deliveries_dlq: the event source mapping's on-failure destination.
      sqs        = { deliveries = ["sqs:SendMessage"], deliveries_dlq = ["sqs:SendMessage"] }
      s3         = []
      master_key = false
    }

    # Queue consumer: the subscription and its delivery state (hooks), the event
    # (GetItem) and replay pages (timeline); fairness slots, pace and the replay
    # lock, parked deliveries (hooks: Query wakes, DeleteItem claims); one transaction records the attempt,
    # the day counters and, on auto-disable, the subscription.disabled event
    # (PutItem on events, the pending gauge on stats). SQS: what the event source
    # mapping needs (receive, delete, queue attributes), plus sends of retries and
    # replay pages.
    deliver = {
      dynamodb = {
        hooks = {
          actions = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]
          indexes = []
        }
        events = { actions = ["dynamodb:GetItem", "dynamodb:PutItem"], indexes = ["timeline"] }
        stats  = { actions = ["dynamodb:UpdateItem"], indexes = [] }
      }
      sqs        = { deliveries = ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:SendMessage"] }
      s3         = []
      master_key = true
    }

    # Scheduled: due retries from the due-time index, claimed by a conditional
    # update, then sent to the delivery queue.
    retry = {
      dynamodb = {
        hooks = { actions = ["dynamodb:UpdateItem"], indexes = ["gsi1"] }
      }
      sqs        = { deliveries = ["sqs:SendMessage"] }
      s3         = []
      master_key = false
    }

    # Scheduled: day counters in, rollup items out; inbox and agent figures per tenant.
    rollup = {
      dynamodb = {
        stats  = { actions = ["dynamodb:BatchGetItem", "dynamodb:PutItem", "dynamodb:Query"], indexes = [] }
        events = { actions = [], indexes = ["gsi1", "gsi3"] }
        agents = { actions = [], indexes = ["gsi1"] }
      }
      s3         = []
      master_key = false
    }
  }
}
