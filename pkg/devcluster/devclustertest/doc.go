// Package devclustertest shares one devcluster control plane among the
// integration tests of a package: call Main from TestMain, then use Config
// and Namespace in the tests.
package devclustertest
