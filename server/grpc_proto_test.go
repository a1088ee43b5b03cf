package server

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	_ "github.com/pinecone-io/go-pinecone/v5/pinecone" // registers the hosted API's descriptor
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/larchdb/larch/server/internal/pb"
)

// hostedDescriptor returns the file descriptor of the hosted data-plane API
// that the official Go client compiles in: the file declaring a service
// VectorService with no package.
func hostedDescriptor(t *testing.T) protoreflect.FileDescriptor {
	t.Helper()
	var found protoreflect.FileDescriptor
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if fd.Package() == "" && fd.Services().ByName("VectorService") != nil {
			found = fd
			return false
		}
		return true
	})
	if found == nil {
		t.Fatal("the official Go client registered no package-less VectorService")
	}
	return found
}

// TestProto_MatchesHostedAPI checks our hand-written proto against the
// descriptor the official Go client compiles in: every message and field
// (name, number, kind, cardinality, json_name, proto3 optional, oneof,
// deprecation, message type, map key and value) and every method, both
// ways, ignoring only our package name.
func TestProto_MatchesHostedAPI(t *testing.T) {
	theirs := hostedDescriptor(t)
	ours := pb.File_vector_service_proto
	t.Logf("hosted descriptor %s: %d messages, %d methods", theirs.Path(), theirs.Messages().Len(),
		theirs.Services().Get(0).Methods().Len())
	if a, b := describeFile(theirs), describeFile(ours); a != b {
		t.Fatalf("our proto differs from the hosted API's:\n%s", lineDiff(a, b))
	}
}

// TestProto_DescribeFileSeesDifferences makes sure the comparison above can
// fail: a changed field number, json_name or optional keyword changes the
// description.
func TestProto_DescribeFileSeesDifferences(t *testing.T) {
	base := describeFile(pb.File_vector_service_proto)
	for _, edit := range []func(*descriptorpb.FileDescriptorProto){
		func(f *descriptorpb.FileDescriptorProto) { f.MessageType[1].Field[0].Number = ptr(int32(9)) },
		func(f *descriptorpb.FileDescriptorProto) { f.MessageType[1].Field[2].JsonName = ptr("sparse_values") },
		func(f *descriptorpb.FileDescriptorProto) {
			f.MessageType[1].Field[1].Type = descriptorpb.FieldDescriptorProto_TYPE_DOUBLE.Enum()
		},
		func(f *descriptorpb.FileDescriptorProto) { f.Service[0].Method[0].Name = ptr("Upsert2") },
	} {
		fdp := fileProto(pb.File_vector_service_proto)
		edit(fdp)
		fd, err := buildFile(fdp)
		if err != nil {
			t.Fatal(err)
		}
		if describeFile(fd) == base {
			t.Errorf("an edited descriptor describes the same")
		}
	}
}

func ptr[T any](v T) *T { return &v }

// describeFile writes a file's messages and services as sorted lines,
// with names relative to the file's package.
func describeFile(fd protoreflect.FileDescriptor) string {
	pkg := string(fd.Package())
	rel := func(n protoreflect.FullName) string {
		return strings.TrimPrefix(strings.TrimPrefix(string(n), pkg), ".")
	}
	var lines []string
	var walk func(ms protoreflect.MessageDescriptors)
	walk = func(ms protoreflect.MessageDescriptors) {
		for i := 0; i < ms.Len(); i++ {
			m := ms.Get(i)
			lines = append(lines, fmt.Sprintf("message %s map_entry=%v", rel(m.FullName()), m.IsMapEntry()))
			for j := 0; j < m.Fields().Len(); j++ {
				f := m.Fields().Get(j)
				typ := f.Kind().String()
				if f.Message() != nil {
					typ = rel(f.Message().FullName())
					if strings.HasPrefix(string(f.Message().FullName()), "google.protobuf.") {
						typ = string(f.Message().FullName())
					}
				}
				oneof := ""
				if o := f.ContainingOneof(); o != nil {
					oneof = string(o.Name())
				}
				dep := false
				if o, ok := f.Options().(*descriptorpb.FieldOptions); ok && o != nil {
					dep = o.GetDeprecated()
				}
				lines = append(lines, fmt.Sprintf("  %s.%s = %d %s %s json=%s optional=%v oneof=%s packed=%v deprecated=%v",
					rel(m.FullName()), f.Name(), f.Number(), f.Cardinality(), typ, f.JSONName(),
					f.HasOptionalKeyword(), oneof, f.IsPacked(), dep))
			}
			walk(m.Messages())
		}
	}
	walk(fd.Messages())
	for i := 0; i < fd.Services().Len(); i++ {
		s := fd.Services().Get(i)
		for j := 0; j < s.Methods().Len(); j++ {
			m := s.Methods().Get(j)
			lines = append(lines, fmt.Sprintf("rpc %s/%s(%s) returns (%s) stream=%v,%v", s.Name(), m.Name(),
				rel(m.Input().FullName()), rel(m.Output().FullName()), m.IsStreamingClient(), m.IsStreamingServer()))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// lineDiff lists the lines only in a (-) and only in b (+).
func lineDiff(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ina, inb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !inb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ina[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

func fileProto(fd protoreflect.FileDescriptor) *descriptorpb.FileDescriptorProto {
	return protodesc.ToFileDescriptorProto(fd)
}

func buildFile(fdp *descriptorpb.FileDescriptorProto) (protoreflect.FileDescriptor, error) {
	return protodesc.NewFile(fdp, protoregistry.GlobalFiles)
}
