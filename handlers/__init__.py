"""One module per Lambda function; each declares ROUTES and exports `handler`."""
