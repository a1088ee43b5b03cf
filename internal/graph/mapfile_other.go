//go:build !unix

package graph

import (
	"errors"
	"os"
)

// maxMapped is the largest snapshot MapFile maps: none on this system.
const maxMapped = 0

func mapFile(*os.File, int) ([]byte, error) {
	return nil, errors.New("graph: no mapping on this system")
}

func unmapFile([]byte) {}

func adviseDontNeed([]byte) {}
