package main

import "github.com/larchdb/larch/internal/textcorpus"

// smallCorpus is the corpus this example carries, for machines without
// Debian's dict-foldoc: short definitions of computing terms, written for
// this example, shaped like FOLDOC's entries (a headword, subjects, text).
func smallCorpus() []textcorpus.Entry {
	defs := []struct{ term, cats, text string }{
		{"garbage collection", "programming", "Automatic reclamation of heap memory that a program can no longer reach. A collector traces live objects from the roots and frees the rest, so programmers need not free memory by hand."},
		{"reference counting", "programming", "A memory management technique in which each object counts the references to it and is freed when the count drops to zero. Cycles of objects defeat it unless a cycle collector runs too."},
		{"monad", "theory, functional programming", "A structure from category theory used in functional programming languages to sequence computations that carry state, failure or input and output, while keeping functions pure."},
		{"Haskell", "language, functional programming", "A lazy, purely functional programming language with static types and type inference, named after the logician Haskell Curry. It uses monads for input and output."},
		{"Lisp", "language", "A family of programming languages built on lists and symbolic expressions, with automatic garbage collection and code written as data; among the oldest languages still in use."},
		{"Go", "language", "A compiled programming language with garbage collection, goroutines and channels for concurrency, designed for networked servers and command line tools."},
		{"C", "language", "A small systems programming language with manual memory management, pointers and a thin runtime, used to write operating systems and compilers."},
		{"compiler", "programming, tool", "A program that translates source code in one language into another, usually machine code: it parses, checks types, optimises and generates code."},
		{"interpreter", "programming, tool", "A program that runs source code directly, statement by statement, instead of translating it to machine code first."},
		{"TCP", "networking, protocol", "Transmission Control Protocol: a reliable, ordered byte stream over IP, with acknowledgements, retransmission, flow control and congestion control."},
		{"UDP", "networking, protocol", "User Datagram Protocol: connectionless datagrams over IP without delivery guarantees, used where low latency matters more than reliability."},
		{"congestion control", "networking", "The ways a sender slows down when the network drops or delays packets, such as TCP's slow start and additive increase, multiplicative decrease."},
		{"IP address", "networking", "The number identifying a host on an Internet Protocol network: 32 bits in IPv4, 128 bits in IPv6."},
		{"DNS", "networking, protocol", "The Domain Name System: a distributed database that maps host names to IP addresses and back, queried through resolvers and caches."},
		{"hash table", "data structure", "A table that stores keys and values in buckets chosen by a hash function of the key, giving lookups in constant time on average."},
		{"binary tree", "data structure", "A tree in which every node has at most two children; a binary search tree keeps smaller keys on the left and larger on the right."},
		{"B-tree", "data structure, database", "A balanced tree with many keys per node, kept shallow so that lookups touch few disk pages; used by databases and file systems."},
		{"inverted index", "information retrieval, data structure", "For every word, the list of documents that contain it: the index behind keyword search engines, scored with tf-idf or BM25."},
		{"BM25", "information retrieval", "A ranking function for keyword search: term frequency saturated and normalised by document length, weighted by inverse document frequency."},
		{"vector database", "database, information retrieval", "A database that stores embedding vectors and finds the nearest ones to a query vector, exactly or with an approximate index such as a graph."},
		{"cache", "hardware, programming", "A small fast memory holding copies of recently used data from a larger slower one, so that repeated reads are quick."},
		{"virtual memory", "operating system", "Memory addresses that the operating system maps to physical memory or to disk in pages, giving each process its own address space."},
		{"process", "operating system", "A running program with its own address space, open files and threads, scheduled by the operating system kernel."},
		{"thread", "operating system, programming", "A sequence of instructions that runs concurrently with others in the same process, sharing its memory."},
		{"deadlock", "operating system, programming", "A state in which two or more threads wait for each other to release locks, so that none can proceed."},
		{"mutex", "programming", "A lock that lets one thread at a time into a critical section; others wait until it is released."},
		{"regular expression", "programming, text", "A pattern describing a set of strings, built from literals, alternation, repetition and character classes, used to search and split text."},
		{"Unicode", "text, standard", "The standard character set covering the world's scripts, with encodings such as UTF-8, and rules for case mapping and word boundaries."},
		{"UTF-8", "text, standard", "A variable-length encoding of Unicode in one to four bytes per character, compatible with ASCII."},
		{"checksum", "data", "A small value computed from a block of data to detect accidental changes, such as a CRC."},
	}
	out := make([]textcorpus.Entry, len(defs))
	for i, d := range defs {
		out[i] = textcorpus.Entry{ID: d.term, Term: d.term, Categories: splitCats(d.cats), Text: d.term + "\n\n<" + d.cats + "> " + d.text}
	}
	return out
}

func splitCats(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			c := s[start:i]
			for len(c) > 0 && c[0] == ' ' {
				c = c[1:]
			}
			if c != "" {
				out = append(out, c)
			}
			start = i + 1
		}
	}
	return out
}
