// Package znode holds the node helpers that package recipes and its
// subpackages (recipes/discovery) share: path joining and splitting, making
// a recipe's directory, and undoing an abandoned attempt after its context
// ended. It uses only the public client, as the recipes do.
package znode
