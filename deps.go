package larch
import (
 _ "github.com/cockroachdb/pebble/v2"
 _ "github.com/cockroachdb/pebble/v2/vfs"
 _ "github.com/RoaringBitmap/roaring/v2"
 _ "golang.org/x/sys/cpu"
 _ "github.com/klauspost/compress/zstd"
 _ "github.com/parquet-go/parquet-go"
 _ "go.uber.org/goleak"
 _ "github.com/cockroachdb/datadriven"
)
