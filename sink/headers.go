package sink

// Record header names. Every record scorestream writes to the predictions, shadow
// and dead-letter topics carries the provenance headers; dead letters also carry the
// error headers. Values are UTF-8 text (numbers in decimal).
const (
	HeaderSourceTopic     = "scorestream.source.topic"
	HeaderSourcePartition = "scorestream.source.partition"
	HeaderSourceOffset    = "scorestream.source.offset"
	HeaderErrorClass      = "scorestream.error.class"   // dead letters only
	HeaderErrorMessage    = "scorestream.error.message" // dead letters only
	HeaderModel           = "scorestream.model"         // predictions: name/version/hash
)
