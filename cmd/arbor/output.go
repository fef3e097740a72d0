package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/arbor-coord/arbor/client"
)

// timeLayout is RFC 3339 in UTC with milliseconds, the precision of the
// leader's clock stamps.
const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// statJSON is a Stat in JSON, with the protocol's field names.
type statJSON struct {
	Czxid          int64  `json:"czxid"`
	Mzxid          int64  `json:"mzxid"`
	Ctime          string `json:"ctime"`
	Mtime          string `json:"mtime"`
	Version        int32  `json:"version"`
	Cversion       int32  `json:"cversion"`
	Aversion       int32  `json:"aversion"`
	EphemeralOwner int64  `json:"ephemeral_owner"`
	DataLength     int32  `json:"data_length"`
	NumChildren    int32  `json:"num_children"`
	Pzxid          int64  `json:"pzxid"`
}

func statToJSON(st client.Stat) *statJSON {
	return &statJSON{
		Czxid: st.Czxid, Mzxid: st.Mzxid,
		Ctime: formatTime(st.Ctime), Mtime: formatTime(st.Mtime),
		Version: st.Version, Cversion: st.Cversion, Aversion: st.Aversion,
		EphemeralOwner: st.EphemeralOwner,
		DataLength:     st.DataLength, NumChildren: st.NumChildren,
		Pzxid: st.Pzxid,
	}
}

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// writeStat writes st as zkCli does, one "name = value" a line, with the
// JSON field names; the owner is a session id, in hex as zkCli shows it.
func writeStat(w io.Writer, st client.Stat) error {
	_, err := fmt.Fprintf(w, "czxid = %d\nmzxid = %d\nctime = %s\nmtime = %s\nversion = %d\ncversion = %d\naversion = %d\nephemeral_owner = %#x\ndata_length = %d\nnum_children = %d\npzxid = %d\n",
		st.Czxid, st.Mzxid, formatTime(st.Ctime), formatTime(st.Mtime),
		st.Version, st.Cversion, st.Aversion, st.EphemeralOwner,
		st.DataLength, st.NumChildren, st.Pzxid)
	return err
}

// writeJSON writes v as one JSON document on one line.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// dataJSON is a node's data in JSON: as a string when it is UTF-8, else
// base64 under data_base64.
type dataJSON struct {
	Data       *string `json:"data,omitempty"`
	DataBase64 []byte  `json:"data_base64,omitempty"`
}

func toDataJSON(data []byte) dataJSON {
	if utf8.Valid(data) {
		s := string(data)
		return dataJSON{Data: &s}
	}
	return dataJSON{DataBase64: data}
}
