// Package ackstandin is rgd dev's local stand-in for the ACK DynamoDB
// controller. It is started only by `rgd dev`, where no AWS account is
// reachable: it watches tables.dynamodb.services.k8s.aws/v1alpha1 and, after
// a short delay, reports each Table as created by writing, through the status
// subresource, status.tableStatus ACTIVE, status.ackResourceMetadata (arn,
// ownerAccountID, region) and the condition ACK.ResourceSynced=True. It never
// talks to AWS and never touches spec. Its field manager is
// rgd-dev-ack-standin.
package ackstandin
