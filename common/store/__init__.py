"""The one way to DynamoDB and S3: clients, codec, requests, transactions, cursors, counters."""
