package model

import "errors"

// ParseLightGBM is a placeholder until model/lightgbm.go lands; delete this file then.
func ParseLightGBM(data []byte) (Model, error) {
	return nil, errors.New("lightgbm: not implemented")
}
